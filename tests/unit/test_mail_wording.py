"""What people notice in the mail they get: names instead of addresses, a watcher greeted
by their own name, the other department's ticket, a handover note for the new owner only,
the request's files (never active ones), and a pending status that does not blame the
requester when a supplier is the one we wait on."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

from aliasdesk.domain.commands import NOTE_LIMIT, parse_commands
from aliasdesk.mail.active_content import is_active
from aliasdesk.notify.kinds import LinkedTicket, RequestFile
from aliasdesk.notify.render import RenderedMail, TemplateRenderer, sample_context
from aliasdesk.notify.wording import size_text, waiting_on_text
from aliasdesk.services.mail_facts import person_name
from aliasdesk.settings.routing_file import check_routing, load_routing

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "email"
ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
REQUESTER_KINDS = ["acknowledgement", "status_update", "feedback_request", "reply_relay"]


@pytest.fixture(scope="module")
def renderer() -> TemplateRenderer:
    return TemplateRenderer(TEMPLATES)


def render(
    renderer: TemplateRenderer, kind: str, department: str | None = None, **changes: object
) -> RenderedMail:
    context: Any = sample_context(kind, department)
    return renderer.render(kind, dataclasses.replace(context, **changes), department)


def parts(mail: RenderedMail) -> tuple[str, str]:
    return mail.text, mail.html


# -- reply commands -------------------------------------------------------------------


def test_assign_takes_a_handover_note_after_the_member() -> None:
    [command] = parse_commands("#assign Bob@Example.com  Dave's VPN certificate\texpired").commands
    assert (command.argument, command.error) == ("bob@example.com", None)
    assert command.note == "Dave's VPN certificate expired"
    assert str(command) == "#assign bob@example.com Dave's VPN certificate expired"
    [bare] = parse_commands("#assign <bob>").commands
    assert (bare.argument, bare.note, bare.error) == ("bob", "", None)
    [long] = parse_commands("#assign bob " + "x" * 5000).commands
    assert len(long.note) == NOTE_LIMIT


def test_status_pending_takes_who_we_wait_on() -> None:
    vendor, plain, free, bad = parse_commands(
        "#status Pending vendor\n#status pending\n#status pending the new laptop\n#status open now"
    ).commands
    assert (vendor.argument, vendor.note, vendor.error) == ("pending", "vendor", None)
    assert (plain.argument, plain.note, plain.error) == ("pending", "", None)
    assert free.note == "the new laptop"
    assert bad.error == "usage: #status open|pending|resolved"


@pytest.mark.parametrize(
    ("written", "told"),
    [
        ("vendor", "a supplier"),
        ("Supplier", "a supplier"),
        ("third-party", "a third party"),
        ("the new laptop delivery", "the new laptop delivery"),
        ("requester", ""),
        ("", ""),
    ],
)
def test_waiting_on_words(written: str, told: str) -> None:
    assert waiting_on_text(written) == told


# -- active content ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("setup.exe", "application/octet-stream"),
        ("invoice.pdf.exe", "application/pdf"),
        ("INVOICE.PDF.EXE. ", "application/pdf"),
        ("page.html", "application/octet-stream"),
        ("notes.txt", "text/html"),
        ("budget.xlsm", "application/octet-stream"),
        ("budget.xlsx", "application/vnd.ms-excel.sheet.macroEnabled.12"),
        ("run.ps1", "text/plain"),
        ("logo.svg", "image/svg+xml"),
        ("shortcut.lnk", ""),
    ],
)
def test_active_files(name: str, content_type: str) -> None:
    assert is_active(name, content_type)


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("leave-form.pdf", "application/pdf"),
        ("screenshot.png", "image/png"),
        ("budget.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ("notes.txt", "text/plain"),
        ("archive.tar.gz", "application/gzip"),
        ("", "application/octet-stream"),
    ],
)
def test_passive_files(name: str, content_type: str) -> None:
    assert not is_active(name, content_type)


def test_size_text() -> None:
    assert [size_text(n) for n in (10, 48_000, 12_400_000)] == ["1 KB", "47 KB", "11.8 MB"]


# -- names ------------------------------------------------------------------------------

NAMED = """\
organisation: {name: Example Corp, domains: [example.com]}
departments:
  HR:
    aliases: [hr@example.com]
    members:
      - {address: Alice.Hart@example.com, name: "  Alice   Hart "}
      - bob.jones@example.com
      - {address: erin@example.com, away: true}
"""


def test_member_names_come_from_the_routing_file(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text(NAMED)
    config = load_routing(path)
    assert config.departments["HR"].members == (
        "alice.hart@example.com",
        "bob.jones@example.com",
        "erin@example.com",
    )
    assert config.member_name("ALICE.HART@example.com") == "Alice Hart"
    assert person_name(config, "alice.hart@example.com", "Boss <ceo>") == "Alice Hart"
    assert person_name(config, "bob.jones@example.com") == "Bob Jones"
    assert person_name(config, "dave@example.com", "Dave Miller") == "Dave Miller"
    assert person_name(config, None) == "someone"
    assert person_name(config, "dave@example.com", "ceo@example.com") == "Dave"
    assert person_name(config, "+tag@example.com") == "someone"
    assert person_name(config, None, "Dave Miller") == "Dave Miller"


def test_a_member_name_must_be_text(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text(NAMED.replace('name: "  Alice   Hart "', "name: [Alice]"))
    [error] = check_routing(path)
    assert (error.line, error.field) == (6, "departments.HR.members[0].name")
    assert "expected non-empty text" in error.message


def test_an_unknown_member_key_is_still_an_error(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text(
        NAMED.replace(
            "{address: Alice.Hart@example.com, name: ", "{address: a@example.com, nickname: "
        )
    )
    [error] = check_routing(path)
    assert (error.line, error.field) == (6, "departments.HR.members[0].nickname")


# -- what each mail says ----------------------------------------------------------------


@pytest.mark.parametrize("kind", REQUESTER_KINDS)
def test_requester_mail_shows_no_address(renderer: TemplateRenderer, kind: str) -> None:
    for department in (None, "HR"):
        mail = render(renderer, kind, department)
        for part in parts(mail):
            assert ADDRESS.findall(part) == [], (kind, department)


def test_the_acknowledgement_names_the_other_departments_ticket(
    renderer: TemplateRenderer,
) -> None:
    for department in (None, "HR"):
        mail = render(renderer, "acknowledgement", department)
        for part in parts(mail):
            assert "IT Support; they are handling their part as" in part
            assert "IT-7" in part
    alone = render(renderer, "acknowledgement", linked=())
    assert "You also wrote" not in alone.text and "You also wrote" not in alone.html


def test_two_linked_tickets_are_both_named(renderer: TemplateRenderer) -> None:
    linked = (LinkedTicket("IT-7", "IT Support"), LinkedTicket("FAC-2", "Facilities"))
    text = render(renderer, "acknowledgement", linked=linked).text
    assert "their part as IT-7" in text and "their part as FAC-2" in text


def test_a_watcher_is_greeted_by_their_own_name(renderer: TemplateRenderer) -> None:
    mail = render(
        renderer, "status_update", recipient="carol@example.com", recipient_name="Carol Jones"
    )
    for part in parts(mail):
        assert "Hello Carol Jones," in part and "Hello Dave" not in part
        assert "Dave Miller" in part  # whose request it is
        assert "more from you" not in part
    own = render(renderer, "status_update")
    assert "Hello Dave Miller," in own.text and "your request HR-42" in own.text


def test_pending_on_a_supplier_does_not_ask_the_requester(renderer: TemplateRenderer) -> None:
    mail = render(renderer, "status_update", waiting_on="vendor")
    for part in parts(mail):
        assert "We are waiting on a supplier" in part
        assert "nothing you need to do" in part
        assert "from you" not in part
    plain = render(renderer, "status_update")
    for part in parts(plain):
        assert "we need a little more from you" in part.lower()
        assert "supplier" not in part


def test_status_mail_says_who_did_what(renderer: TemplateRenderer) -> None:
    resolved = render(renderer, "status_update", new_status="resolved", changed_by="Alice Hart")
    assert "Alice Hart has marked your request HR-42 as solved." in resolved.text
    reopened = render(renderer, "status_update", old_status="resolved", new_status="open")
    assert "Alice has reopened your request HR-42." in reopened.text
    off_hold = render(renderer, "status_update", old_status="pending", new_status="open")
    assert "Alice has taken your request HR-42 off hold." in off_hold.text
    started = render(renderer, "status_update", old_status="new", new_status="open")
    assert "Alice has picked up your request HR-42." in started.html


def test_the_handover_note_reaches_the_new_owner(renderer: TemplateRenderer) -> None:
    note = "Dave's VPN certificate expired <b>today</b>"
    for department in (None, "IT"):
        mail = render(
            renderer, "assignment", department, assigned_by="Alice Hart", handover_note=note
        )
        assert "Alice Hart has handed ticket" in mail.text
        assert "Alice Hart left you a note:" in mail.text and note in mail.text
        assert "Alice Hart left you a note:" in mail.html
        assert "&lt;b&gt;today&lt;/b&gt;" in mail.html and "<b>today" not in mail.html


def test_the_assignment_lists_the_files(renderer: TemplateRenderer) -> None:
    files = (
        RequestFile("screen.png", 200_000),
        RequestFile("tool.exe", 3_000, "not attached: it could run code when opened"),
        RequestFile("<i>big</i>.zip", 12_400_000, "not attached: the mail would be too large"),
    )
    for department in (None, "IT"):
        mail = render(renderer, "assignment", department, files=files)
        assert "screen.png, 195 KB" in mail.text
        assert "tool.exe, 3 KB (not attached: it could run code when opened)" in mail.text
        assert "11.8 MB (not attached: the mail would be too large)" in mail.text
        assert "&lt;i&gt;big&lt;/i&gt;.zip" in mail.html and "tool.exe" in mail.html
    none = render(renderer, "assignment", files=())
    assert "Files of the request" not in none.text + none.html
