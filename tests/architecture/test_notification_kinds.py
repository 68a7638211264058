"""Notification kinds are declared once, in aliasdesk.notify.catalogue.

Every declared kind ships its three templates and renders its own sample; every template
folder belongs to a declared kind (or is a department's overrides of declared kinds); and
no code outside the catalogue asks "which kind is this?" by name, where it could ask the
kind itself (its audience, its Auto-Submitted value, whether it carries files, …).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from aliasdesk.notify.catalogue import UnknownKind, all_kinds, kind_named, kind_names
from aliasdesk.notify.catalogue.kind import NotificationKind
from aliasdesk.notify.language import CATALOG_FOLDER
from aliasdesk.notify.render import TEMPLATE_FILES, TemplateRenderer
from aliasdesk.settings.env import TEMPLATE_DIR

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "aliasdesk" / "notify" / "catalogue"
SOURCES = ("aliasdesk", "gateway", "worker")
KIND_NAMES = frozenset(kind_names())


@pytest.mark.parametrize("kind", all_kinds(), ids=lambda kind: kind.name)
def test_every_kind_ships_its_three_templates(kind: NotificationKind) -> None:
    for file in TEMPLATE_FILES:
        assert (TEMPLATE_DIR / kind.name / file).is_file(), f"{kind.name}/{file} is missing"


@pytest.mark.parametrize("kind", all_kinds(), ids=lambda kind: kind.name)
def test_every_kind_renders_its_sample(kind: NotificationKind) -> None:
    sample = kind.sample(None)
    assert isinstance(sample, kind.context_type)
    mail = TemplateRenderer(TEMPLATE_DIR).render(kind.name, sample)
    assert mail.subject and mail.text.strip() and mail.html.strip()


def test_every_template_folder_belongs_to_a_declared_kind() -> None:
    """A folder left behind by a removed kind, or added without its module, is found here
    instead of never being rendered."""
    strays = []
    for folder in sorted(p for p in TEMPLATE_DIR.iterdir() if p.is_dir()):
        if folder.name in KIND_NAMES or folder.name == CATALOG_FOLDER:  # the translations
            continue
        overrides = [p.name for p in folder.iterdir() if p.is_dir()]
        if not overrides or any(name not in KIND_NAMES for name in overrides):
            strays.append(folder.name)
    assert strays == []


DECLARED = {
    # name: (audience, Auto-Submitted, carries files, written by a person)
    "acknowledgement": ("requester", "auto-replied", False, False),
    "status_update": ("requester", "auto-generated", False, False),
    "feedback_request": ("requester", "auto-generated", False, False),
    "reply_relay": ("requester", "auto-generated", True, True),
    "assignment": ("member", "auto-generated", True, False),
    "command_result": ("member", "auto-generated", False, False),
    "sla_warning": ("member", "auto-generated", False, False),
    "escalation": ("member", "auto-generated", False, False),
    "requester_unreachable": ("member", "auto-generated", False, False),
    "unverified_member": ("member", "auto-generated", False, False),
    "quarantine_alert": ("admin", "auto-generated", False, False),
    "routing_refused": ("admin", "auto-generated", False, False),
    "outside_mail_held": ("admin", "auto-generated", False, False),
    "outside_notice": ("outside", "auto-generated", False, False),
    "rating_received": ("member", "auto-generated", False, False),
    "rating_thanks": ("requester", "auto-generated", False, False),
    "poor_rating_alert": ("member", "auto-generated", False, False),
    "member_digest": ("staff", "auto-generated", False, False),
    "weekly_report": ("staff", "auto-generated", False, False),
}
"""What the services kept as name lists before the kinds said it themselves (public
kinds, admin kinds, the sender-only kind, the kinds with files, the uncapped kind)."""


@pytest.mark.parametrize("name", DECLARED)
def test_each_kind_declares_what_the_services_used_to_list(name: str) -> None:
    kind = kind_named(name)
    facts = (kind.audience, kind.auto_submitted, kind.carries_files, kind.written_by_a_person)
    assert facts == DECLARED[name]
    assert kind.internal == (kind.audience != "requester")


def test_an_unknown_kind_is_a_clear_error() -> None:
    with pytest.raises(UnknownKind, match="no_such_kind") as raised:
        kind_named("no_such_kind")
    assert isinstance(raised.value, ValueError)


def _mentions_kind(node: ast.expr) -> bool:
    """``kind``, ``delivery.kind``, ``KIND_NAMES``: an expression that holds a kind."""
    name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", "")
    return "kind" in name.lower()


def _kind_literals(node: ast.AST) -> list[str]:
    return [
        child.value
        for child in ast.walk(node)
        if isinstance(child, ast.Constant) and child.value in KIND_NAMES
    ]


def special_cases(source: str) -> list[tuple[int, str]]:
    """Kind names used to single kinds out: compared with a kind, collected in a literal
    set/tuple/list/dict, or given a name of their own. Choosing the kind of a mail to
    queue (``kind="assignment"``) is not a special case and is not reported."""
    found: list[tuple[int, str]] = []
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(_mentions_kind(side) for side in sides):
                found += [(node.lineno, name) for name in _kind_literals(node)]
        elif isinstance(node, ast.Set | ast.Tuple | ast.List | ast.Dict):
            found += [(node.lineno, name) for name in _name_list(node)]
        elif isinstance(node, ast.Assign | ast.AnnAssign) and _is_kind_name(node.value):
            found.append((node.lineno, str(getattr(node.value, "value", ""))))
    return sorted(set(found))


def _is_kind_name(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and node.value in KIND_NAMES


def _name_list(node: ast.Set | ast.Tuple | ast.List | ast.Dict) -> list[str]:
    """The kind names of a literal whose words are all kind names (a list of kinds); a
    list of other words that happens to hold one ("assignment" as a routing key) is not."""
    items = node.keys if isinstance(node, ast.Dict) else node.elts
    words = [
        str(item.value)
        for item in items
        if isinstance(item, ast.Constant) and isinstance(item.value, str)
    ]
    return words if words and all(word in KIND_NAMES for word in words) else []


def test_the_detector_finds_the_special_cases_it_is_meant_to() -> None:
    caught = special_cases(
        'if delivery.kind == "acknowledgement": pass\n'
        'PUBLIC = frozenset({"reply_relay"})\n'
        'NOTICE = "requester_unreachable"\n'
        'WORDS = {"status_update": "status update"}\n'
        'kind, who = "sla_warning", owner\n'
    )
    assert [line for line, _ in caught] == [1, 2, 3, 4, 5]
    allowed = (
        'queue(session, kind="assignment")\n'
        'role == "unverified_member"\n'
        'KEYS = ("name", "aliases", "assignment")\n'
    )
    assert special_cases(allowed) == []


def test_no_code_outside_the_catalogue_singles_out_a_kind_by_name() -> None:
    offenders = []
    for package in SOURCES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if CATALOGUE in path.parents:
                continue
            for line, name in special_cases(path.read_text(encoding="utf-8")):
                offenders.append(f"{path.relative_to(ROOT)}:{line}: {name}")
    assert offenders == [], "ask the kind (aliasdesk.notify.catalogue) instead"
