"""The stages decide and the filing service writes: no module of the inbound pipeline
imports any application service, and the decisions are plain data (aliasdesk.domain.filing,
aliasdesk.inbound.decisions), so the pipeline can run and be read without them.
"""

from __future__ import annotations

import grimp

WRITERS = {
    "aliasdesk.services.tickets",
    "aliasdesk.services.conversation",
    "aliasdesk.services.filing",
}


def test_no_pipeline_module_imports_the_ticket_writers() -> None:
    graph = grimp.build_graph("aliasdesk")
    pipeline = graph.find_descendants("aliasdesk.inbound") | {"aliasdesk.inbound"}
    offending = {
        (module, imported)
        for module in pipeline
        for imported in graph.find_modules_directly_imported_by(module)
        if imported in WRITERS
    }
    assert not offending, offending
    # The rule watches real modules: the writers exist, and the filing service uses them.
    assert graph.modules >= WRITERS
    assert graph.direct_import_exists(
        importer="aliasdesk.services.filing", imported="aliasdesk.services.tickets"
    )


def test_the_decision_is_plain_data() -> None:
    graph = grimp.build_graph("aliasdesk")
    imported = graph.find_modules_directly_imported_by("aliasdesk.domain.filing")
    assert not {m for m in imported if m.startswith("aliasdesk.")}, imported


def test_no_pipeline_module_imports_any_service() -> None:
    """The bounce stage leaves a decision too; none of the pipeline reaches up a layer."""
    graph = grimp.build_graph("aliasdesk")
    pipeline = graph.find_descendants("aliasdesk.inbound") | {"aliasdesk.inbound"}
    upward = {
        (module, imported)
        for module in pipeline
        for imported in graph.find_modules_directly_imported_by(module)
        if imported.startswith("aliasdesk.services")
    }
    assert not upward, upward
    assert graph.direct_import_exists(
        importer="aliasdesk.services.filing", imported="aliasdesk.services.bounces"
    )
