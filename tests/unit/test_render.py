"""Every notification kind renders, per department too, and says the same in text and HTML."""

from __future__ import annotations

import dataclasses
import re
from html import unescape
from pathlib import Path
from typing import Any

import pytest

from aliasdesk.notify.catalogue import all_kinds
from aliasdesk.notify.kinds import (
    AcknowledgementContext,
    EscalationContext,
    QuarantineAlertContext,
    SlaWarningContext,
    TicketMailContext,
)
from aliasdesk.notify.language import MailLocale
from aliasdesk.notify.render import (
    RenderedMail,
    TemplateError,
    TemplateRenderer,
    sample_context,
    without_tag,
)
from aliasdesk.notify.text import friendly_name, trim_text

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "email"
KINDS = {kind.name: kind.context_type for kind in all_kinds()}
AUTO_SUBMITTED = {kind.name: kind.auto_submitted for kind in all_kinds()}
TICKET_KINDS = [kind for kind, klass in KINDS.items() if issubclass(klass, TicketMailContext)]
OVERRIDES = [("HR", "acknowledgement"), ("IT", "assignment")]


@pytest.fixture(scope="module")
def renderer() -> TemplateRenderer:
    return TemplateRenderer(TEMPLATES)


def render(renderer: TemplateRenderer, kind: str, **changes: object) -> RenderedMail:
    context: Any = sample_context(kind)
    context = dataclasses.replace(context, **changes)
    return renderer.render(kind, context)


def test_every_template_renders(renderer: TemplateRenderer) -> None:
    assert renderer.check_templates() == []


def test_the_overrides_are_found(renderer: TemplateRenderer) -> None:
    found = renderer.overrides()
    for department, kind in OVERRIDES:
        assert kind in found[department]


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_kind_renders_three_parts(renderer: TemplateRenderer, kind: str) -> None:
    mail = renderer.render(kind, sample_context(kind))
    assert mail.subject and "\n" not in mail.subject and "\r" not in mail.subject
    assert mail.text.strip()
    assert mail.html.lstrip().startswith("<!DOCTYPE html>")


@pytest.mark.parametrize("kind", TICKET_KINDS)
def test_ticket_tag_leads_every_ticket_subject(renderer: TemplateRenderer, kind: str) -> None:
    mail = renderer.render(kind, sample_context(kind))
    assert mail.subject == "[HR-42] Parental leave from June"


@pytest.mark.parametrize("kind", TICKET_KINDS)
def test_text_and_html_name_the_reference(renderer: TemplateRenderer, kind: str) -> None:
    mail = renderer.render(kind, sample_context(kind))
    assert "HR-42" in mail.text
    assert "HR-42" in mail.html


@pytest.mark.parametrize(("department", "kind"), OVERRIDES)
def test_department_override_wins(renderer: TemplateRenderer, department: str, kind: str) -> None:
    context = sample_context(kind, department)
    own = renderer.render(kind, context, department)
    default = renderer.render(kind, context)
    assert own.text != default.text
    assert own.subject == default.subject == f"[{department}-42] Parental leave from June"
    marker = {"HR": "confidential", "IT": "IT portal"}[department]
    assert marker in own.text and marker in own.html
    assert marker not in default.text


def test_department_without_override_falls_back(renderer: TemplateRenderer) -> None:
    context = sample_context("acknowledgement", "FIN")
    assert (
        renderer.render("acknowledgement", context, "FIN").text
        == renderer.render("acknowledgement", context).text
    )


def test_override_lookup_ignores_unsafe_department_keys(renderer: TemplateRenderer) -> None:
    context = sample_context("acknowledgement")
    mail = renderer.render("acknowledgement", context, "../HR")
    assert "confidential" not in mail.text


def test_acknowledgement_names_the_owner(renderer: TemplateRenderer) -> None:
    mail = render(renderer, "acknowledgement")
    for part in (mail.text, mail.html):
        assert "Alice has got this" in part
        assert "[HR-42]" in part  # how to add information: keep the tag in the subject
        assert "reply to this mail" in part.lower()


def test_acknowledgement_without_owner_says_the_department_picks_it_up(
    renderer: TemplateRenderer,
) -> None:
    mail = render(renderer, "acknowledgement", owner=None, owner_name=None)
    for part in (mail.text, mail.html):
        assert "has got this" not in part
        assert "Someone from Human Resources will pick it up" in part


def test_html_escapes_what_came_from_mail(renderer: TemplateRenderer) -> None:
    evil = "<script>alert(1)</script>"
    mail = render(renderer, "acknowledgement", subject=evil, ticket_text=evil, requester_name=evil)
    assert "<script>" not in mail.html
    assert "&lt;script&gt;" in mail.html
    assert mail.subject == f"[HR-42] {evil}"  # the subject is text, not HTML
    assert evil in mail.text


def test_subject_is_one_line_whatever_the_input(renderer: TemplateRenderer) -> None:
    mail = render(renderer, "status_update", subject="Laptop\r\nBcc: evil@example.net\n  broken")
    assert mail.subject == "[HR-42] Laptop Bcc: evil@example.net broken"


def test_subject_does_not_repeat_the_tag(renderer: TemplateRenderer) -> None:
    mail = render(renderer, "reply_relay", subject="[HR-42] Parental leave")
    assert mail.subject == "[HR-42] Parental leave"
    assert without_tag("", "HR-42") == "(no subject)"


def test_reply_relay_to_the_owner_explains_commands(renderer: TemplateRenderer) -> None:
    mail = render(renderer, "reply_relay", audience="owner", author_name="Dave Miller")
    assert "#resolve" in mail.text and "#resolve" in mail.html
    assert "leave-form.pdf" in mail.text and "leave-form.pdf" in mail.html


def test_command_result_lists_applied_and_refused(renderer: TemplateRenderer) -> None:
    mail = render(renderer, "command_result")
    for part in (mail.text, mail.html):
        assert "#status pending" in part
        assert "zoe is not a member of Human Resources" in part


def test_feedback_request_explains_how_to_rate(renderer: TemplateRenderer) -> None:
    mail = render(renderer, "feedback_request")
    for part in (mail.text, mail.html):
        assert "a number from 1 to 5 as the first word" in part
        assert "excellent" in part and "very poor" in part


def test_feedback_request_says_you_to_a_requester_who_resolved_it_themselves(
    renderer: TemplateRenderer,
) -> None:
    mail = render(renderer, "feedback_request", resolved_by="Dave", resolved_by_recipient=True)
    for part in (mail.text, unescape(mail.html)):
        assert "You have marked your request HR-42" in part and "Dave has marked" not in part
    german = renderer.render(
        "feedback_request",
        dataclasses.replace(sample_context("feedback_request"), resolved_by_recipient=True),
        locale=MailLocale("de"),
    )
    assert "Sie haben Ihre Anfrage HR-42" in german.text


def test_status_update_says_what_happens_next(renderer: TemplateRenderer) -> None:
    mail = render(renderer, "status_update", new_status="resolved")
    for part in (mail.text, mail.html):
        assert "If anything is still not right, reply to this mail" in part


@pytest.mark.parametrize("kind", ["sla_warning", "escalation"])
def test_deadline_mails_name_target_and_due_time(renderer: TemplateRenderer, kind: str) -> None:
    context = sample_context(kind)
    assert isinstance(context, SlaWarningContext | EscalationContext)
    mail = renderer.render(kind, context)
    for part in (mail.text, mail.html):
        assert "Mon, Mar 3, 2025, 13:15 UTC" in part
        assert context.target_label in part and "HR-42" in part


def test_warning_is_addressed_to_the_owner(renderer: TemplateRenderer) -> None:
    mail = renderer.render("sla_warning", sample_context("sla_warning"))
    assert mail.text.startswith("Hello Alice,")


def test_escalation_says_what_is_due_not_who_is_late(renderer: TemplateRenderer) -> None:
    """The whole team reads it: it names the ticket, the target and the time, never the
    owner, and it asks for help instead of for an explanation."""
    mail = renderer.render("escalation", sample_context("escalation"))
    for part in (mail.text, mail.html):
        assert "Alice" not in part and "alice@" not in part
        assert "missed" not in part and "overdue" not in part
        assert "If you can help" in part


def test_quarantine_alert_says_how_to_retry(renderer: TemplateRenderer) -> None:
    mail = renderer.render("quarantine_alert", sample_context("quarantine_alert"))
    assert "#7" in mail.subject
    for part in (mail.text, mail.html):
        assert "aliasdesk quarantine retry 7" in part
        assert "no-department" in part


def test_quarantine_alert_copes_with_unknown_sender(renderer: TemplateRenderer) -> None:
    context = sample_context("quarantine_alert")
    assert isinstance(context, QuarantineAlertContext)
    bare = dataclasses.replace(context, from_address=None, subject=None, message_id=None)
    assert "(unknown)" in renderer.render("quarantine_alert", bare).text


def test_missing_field_raises_template_error(tmp_path: Path) -> None:
    folder = tmp_path / "acknowledgement"
    folder.mkdir()
    (folder / "subject.txt").write_text("[{{ ref }}] {{ no_such_field }}")
    (folder / "body.txt").write_text("{{ ref }}")
    (folder / "body.html").write_text("{{ ref }}")
    with pytest.raises(TemplateError) as caught:
        TemplateRenderer(tmp_path).render("acknowledgement", sample_context("acknowledgement"))
    assert caught.value.kind == "acknowledgement"
    assert caught.value.file == "subject.txt"
    assert "no_such_field" in str(caught.value)


def test_missing_template_raises_template_error(tmp_path: Path) -> None:
    with pytest.raises(TemplateError) as caught:
        TemplateRenderer(tmp_path).render("assignment", sample_context("assignment"))
    assert caught.value.file == "subject.txt"


def test_broken_template_is_reported_by_check(tmp_path: Path) -> None:
    folder = tmp_path / "escalation"
    folder.mkdir()
    (folder / "subject.txt").write_text("{% if %}")
    problems = TemplateRenderer(tmp_path).check_templates()
    assert len(problems) == len(KINDS)
    assert any("escalation/subject.txt" in p and "syntax" in p for p in problems)


def test_wrong_context_type_is_refused(renderer: TemplateRenderer) -> None:
    with pytest.raises(TemplateError, match="expected AssignmentContext"):
        renderer.render("assignment", sample_context("acknowledgement"))
    with pytest.raises(TemplateError, match="unknown"):
        renderer.render("no_such_kind", sample_context("acknowledgement"))


def test_auto_submitted_per_kind() -> None:
    assert set(AUTO_SUBMITTED) == set(KINDS)
    assert AUTO_SUBMITTED["acknowledgement"] == "auto-replied"
    assert {v for k, v in AUTO_SUBMITTED.items() if k != "acknowledgement"} == {"auto-generated"}


def test_contexts_are_frozen() -> None:
    context = sample_context("acknowledgement")
    assert isinstance(context, AcknowledgementContext)
    with pytest.raises(dataclasses.FrozenInstanceError):
        context.ref = "HR-1"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("address", "display", "expected"),
    [
        ("alice@example.com", None, "Alice"),
        ("john.smith@example.com", "", "John Smith"),
        ("mary-jane_doe+hr@example.com", None, "Mary Jane Doe"),
        ("bob@example.com", "  Robert   Jones ", "Robert Jones"),
    ],
)
def test_friendly_name(address: str, display: str | None, expected: str) -> None:
    assert friendly_name(address, display) == expected


def test_trim_text_cuts_long_requests() -> None:
    assert trim_text("  short  ") == "short"
    long = "word " * 1000
    trimmed = trim_text(long, limit=100)
    assert len(trimmed) <= 104 and trimmed.endswith("[…]")


ALL_RENDERINGS = [(kind, None) for kind in KINDS] + [(k, d) for d, k in OVERRIDES]


@pytest.mark.parametrize(("kind", "department"), ALL_RENDERINGS)
def test_text_and_html_tell_the_same_facts(
    renderer: TemplateRenderer, kind: str, department: str | None
) -> None:
    mail = renderer.render(kind, sample_context(kind, department), department)
    html = html_to_words(mail.html)
    facts = ["-42", "Alice", "Dave Miller", "reply to this mail", "aliasdesk quarantine retry"]
    facts += re.findall(r"#[a-z]+", mail.text)
    for fact in facts:
        if fact.lower() in mail.text.lower():
            assert fact.lower() in html.lower(), fact


def html_to_words(html: str) -> str:
    """The visible text of the HTML part, entities decoded, tags dropped."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("[HR-42] Parental leave", "Parental leave"),
        ("Re: [ hr-42 ] Parental leave [HR-42]", "Re: Parental leave"),
        ("[HR-421] Parental leave", "[HR-421] Parental leave"),
        ("[HR-4] [IT-42] [HR-42x] leave", "[HR-4] [IT-42] [HR-42x] leave"),
        ("[[HR-42]] leave", "[ ] leave"),
        ("[HR-42]", "(no subject)"),
    ],
)
def test_without_tag_removes_only_the_tickets_own_tag(subject: str, expected: str) -> None:
    assert without_tag(subject, "HR-42") == expected


def _write_kind(folder: Path, kind: str, body: str) -> None:
    folder.joinpath(kind).mkdir(parents=True, exist_ok=True)
    folder.joinpath(kind, "subject.txt").write_text("[{{ ref }}] {{ subject }}")
    folder.joinpath(kind, "body.txt").write_text(body)
    folder.joinpath(kind, "body.html").write_text('{% include "_part.html" %}')


def test_edits_partials_and_new_overrides_are_picked_up(tmp_path: Path) -> None:
    """Compiled templates are kept between mails; a change to any file shows after the recheck."""
    _write_kind(tmp_path, "acknowledgement", "shared v1 {{ ref }}")
    (tmp_path / "_part.html").write_text("part v1")
    renderer = TemplateRenderer(tmp_path)
    context = sample_context("acknowledgement")
    first = renderer.render("acknowledgement", context, "HR")
    assert (first.text, first.html) == ("shared v1 HR-42\n", "part v1\n")

    (tmp_path / "acknowledgement" / "body.txt").write_text("shared v2, edited {{ ref }}")
    (tmp_path / "_part.html").write_text("part v2, edited")
    _write_kind(tmp_path / "HR", "acknowledgement", "HR's own {{ ref }}")
    kept = renderer.render("acknowledgement", context, "HR")
    assert (kept.text, kept.html) == (first.text, first.html), "rechecked before its time"

    renderer.RECHECK_SECONDS = 0.0
    edited = renderer.render("acknowledgement", context, "HR")
    assert (edited.text, edited.html) == ("HR's own HR-42\n", "part v2, edited\n")
    assert renderer.render("acknowledgement", context, "IT").text == "shared v2, edited HR-42\n"

    for name in ("subject.txt", "body.txt", "body.html"):
        (tmp_path / "HR" / "acknowledgement" / name).unlink()
    assert renderer.render("acknowledgement", context, "HR").text == "shared v2, edited HR-42\n"
