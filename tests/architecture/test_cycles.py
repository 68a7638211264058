"""No import cycles, module by module: the layers contract rules out cycles between
layers, this rules them out inside one (a cycle there would make the order in which
modules can be read, tested and replaced a matter of luck)."""

from __future__ import annotations

from pathlib import Path

import grimp
import pytest

PACKAGES = ("aliasdesk", "gateway", "worker")


def import_cycles(*packages: str) -> list[tuple[str, str]]:
    """Each direct import ``a -> b`` for which ``b`` also reaches ``a``, imports inside
    functions and under ``TYPE_CHECKING`` included."""
    graph = grimp.build_graph(*packages, cache_dir=None)
    return sorted(
        (importer, imported)
        for importer in graph.modules
        for imported in graph.find_modules_directly_imported_by(importer)
        if graph.chain_exists(importer=imported, imported=importer)
    )


def test_the_check_finds_a_cycle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "roundabout"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "first.py").write_text("from roundabout import second\n")
    (package / "second.py").write_text("def later():\n    from roundabout import third\n")
    (package / "third.py").write_text("from roundabout.first import second\n")
    (package / "apart.py").write_text("from roundabout import first\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert import_cycles("roundabout") == [
        ("roundabout.first", "roundabout.second"),
        ("roundabout.second", "roundabout.third"),
        ("roundabout.third", "roundabout.first"),
    ]


def test_no_module_imports_itself_through_others() -> None:
    assert import_cycles(*PACKAGES) == []
