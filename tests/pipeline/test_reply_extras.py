"""#cc, #uncc, #reply NAME and the requester's own #resolve, on SQLite and PostgreSQL,
through the real intake and a real SMTP server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aliasdesk.runtime import Runtime
from tests.pipeline.conftest import AUTHSERV_ID
from tests.pipeline.test_conversation import kind_of, mails_to, step, text_of
from tests.pipeline.test_handover import member, request, view
from tests.support.harness import build_mail, runtime_for
from tests.support.smtp_script import ScriptedSmtpServer

ALICE = "Alice Archer <alice@example.com>"


def kinds(smtp: ScriptedSmtpServer, address: str) -> list[str]:
    return [kind_of(m) for m in mails_to(smtp, address)]


def owner_of(runtime: Runtime, ref: str = "HR-1") -> str:
    owner = view(runtime, ref)["owner"]
    assert isinstance(owner, str)
    return owner


def test_cc_copies_someone_from_this_reply_on_and_uncc_stops_it(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    step(runtime, request("Parental leave", "Which form do I need?"))
    owner = owner_of(runtime)
    step(runtime, member(owner, "HR-1", "#note\nPayroll should know about this."))
    body = "#cc <Erin@Partner.example>\nHi Dave, I have copied Erin from payroll."
    assert step(runtime, member(owner, "HR-1", body)) == "update_ticket"
    assert view(runtime, "HR-1")["watchers"] == ["erin@partner.example"]
    # Erin gets the reply that copied her, and nothing from before (no note, no request).
    [first] = mails_to(smtp, "erin@partner.example")
    assert kind_of(first) == "reply_relay" and "I have copied Erin" in text_of(first)
    assert "Payroll should know" not in text_of(first)
    assert "#cc" not in text_of(first)

    step(runtime, member(owner, "HR-1", "#note\nStill internal."))
    step(runtime, member(owner, "HR-1", "#status pending\nWaiting for your form."))
    assert kinds(smtp, "erin@partner.example") == ["reply_relay", "reply_relay", "status_update"]

    # Erin, now a watcher, is heard (not a stranger) but may not change the ticket.
    step(runtime, build_mail("erin@partner.example", subject="Re: [HR-1] x", body="#close\nok"))
    assert view(runtime, "HR-1")["status"] == "pending"
    assert kinds(smtp, "erin@partner.example")[-1] == "command_result"

    step(runtime, member(owner, "HR-1", "#uncc erin@partner.example\nNoted, thanks."))
    assert view(runtime, "HR-1")["watchers"] == []
    assert len(mails_to(smtp, "erin@partner.example")) == 4
    assert "Noted, thanks." in text_of(mails_to(smtp, "dave@example.com")[-1])
    events = [e["detail"] for e in view(runtime, "HR-1")["events"] if e["kind"] == "watcher"]
    assert events == [
        "copied erin@partner.example (outside the organisation)",
        "no longer copied: erin@partner.example",
    ]


def test_cc_refuses_aliases_members_the_requester_noreply_and_forgers(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    step(runtime, request("Parental leave", "Which form do I need?"))
    owner = owner_of(runtime)
    body = (
        "#cc people@example.com\n#cc bob@example.com\n#cc dave@example.com\n"
        "#cc noreply@partner.example\n#cc a@x.example, b@y.example\n#uncc zoe@example.com"
    )
    step(runtime, member(owner, "HR-1", body))
    said = text_of(mails_to(smtp, owner)[-1])
    assert "people@example.com is one of our aliases" in said
    assert "bob@example.com is a member of HR" in said
    assert "dave@example.com is the requester" in said
    assert "noreply@partner.example is a no-reply address" in said
    assert "usage: #cc name@example.com (one address)" in said
    assert "zoe@example.com was not copied on HR-1" in said
    assert view(runtime, "HR-1")["watchers"] == []

    # Anyone can write "From: Alice": without proof it is a stranger's mail.
    step(runtime, member(ALICE, "HR-1", "#cc mallory@evil.example\nhi", verified=False))
    assert view(runtime, "HR-1")["watchers"] == []
    assert mails_to(smtp, "mallory@evil.example") == []

    step(runtime, member(owner, "HR-1", "#close"))
    step(runtime, member(owner, "HR-1", "#cc erin@partner.example"))
    assert "HR-1 is closed" in text_of(mails_to(smtp, owner)[-1])
    assert view(runtime, "HR-1")["watchers"] == []


def test_reply_inserts_the_saved_answer_filled_in_for_the_ticket(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    step(runtime, request("Parental leave", "Which form do I need?"))
    owner = owner_of(runtime)
    assert step(runtime, member(ALICE, "HR-1", "#reply Parental-Leave\nBest, Alice")) == (
        "update_ticket"
    )
    relay = mails_to(smtp, "dave@example.com")[-1]
    assert kind_of(relay) == "reply_relay"
    text = text_of(relay)
    assert "Hello Dave Miller," in text and "form L-1 from the intranet" in text
    assert "Alice Archer, Human Resources" in text
    assert text.index("form L-1") < text.index("Best, Alice")
    assert "{{" not in text and "#reply" not in text
    stored = [m["text"] for m in view(runtime, "HR-1")["messages"] if m["direction"] == "in"]
    assert "form L-1 from the intranet" in stored[-1]
    assert view(runtime, "HR-1")["status"] == "open"

    # Another department's answer is not found from HR; nothing is sent for a refusal.
    sent = len(mails_to(smtp, "dave@example.com"))
    step(runtime, member(owner, "HR-1", "#reply vpn-reset"))
    step(runtime, member(owner, "HR-1", "#reply ../../etc/passwd"))
    assert len(mails_to(smtp, "dave@example.com")) == sent
    results = [text_of(m) for m in mails_to(smtp, owner) if kind_of(m) == "command_result"]
    assert "there is no saved answer called vpn-reset" in results[-2]
    assert "usage: #reply NAME" in results[-1]


@pytest.fixture
def snippets(tmp_path: Path) -> Path:
    """A snippet folder with department and language versions, a link out of the folder
    and two answers that try to reach past the ticket's fields."""
    folder = tmp_path / "snippets"
    (folder / "HR" / "en").mkdir(parents=True)
    (folder / "en").mkdir()
    (folder / "greet.txt").write_text("general {{ ref }}")
    (folder / "en" / "greet.txt").write_text("english {{ ref }}")
    (folder / "HR" / "greet.txt").write_text("hr {{ ref }}")
    (folder / "HR" / "en" / "greet.txt").write_text("hr english {{ ref }} for {{ requester_name }}")
    secret = tmp_path / "secret.txt"
    secret.write_text("the admin password")
    (folder / "leak.txt").symlink_to(secret)
    (folder / "probe.txt").write_text("{{ ''.__class__.__mro__[1].__subclasses__() }}")
    (folder / "unknown.txt").write_text("{{ password }}")
    return folder


@pytest.fixture
def snippet_runtime(
    database_url: str, smtp: ScriptedSmtpServer, snippets: Path
) -> Iterator[Runtime]:
    rt = runtime_for(database_url, smtp.port, authserv_id=AUTHSERV_ID, snippet_dir=snippets)
    yield rt
    rt.close()


def test_the_most_specific_saved_answer_wins_and_none_escapes_the_folder(
    snippet_runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    runtime = snippet_runtime
    step(runtime, request("Parental leave", "Which form do I need?"))
    step(runtime, request("Laptop", "Slow.", to="it@example.com"))
    step(runtime, member(ALICE, "HR-1", "#reply greet"))
    assert "hr english HR-1 for Dave Miller" in text_of(mails_to(smtp, "dave@example.com")[-1])
    carol = owner_of(runtime, "IT-1")
    step(runtime, member(carol, "IT-1", "#reply greet"))
    assert "english IT-1" in text_of(mails_to(smtp, "dave@example.com")[-1])

    sent = len(mails_to(smtp, "dave@example.com"))
    step(runtime, member(ALICE, "HR-1", "#reply leak\n#reply probe\n#reply unknown"))
    assert len(mails_to(smtp, "dave@example.com")) == sent
    said = text_of(mails_to(smtp, "alice@example.com")[-1])
    assert "saved answer leak points outside the snippet folder" in said
    assert "saved answer probe cannot be filled in" in said
    assert "saved answer unknown cannot be filled in: 'password' is undefined" in said
    assert "admin password" not in said


def test_the_requester_may_resolve_their_own_request_and_is_asked_for_feedback(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    cc = {"Cc": "Erin Watts <erin@partner.example>"}
    step(runtime, request("Parental leave", "Which form do I need?", headers=cc))
    owner = owner_of(runtime)
    step(runtime, member(owner, "HR-1", "#status pending\nWhich month?"))
    seen = len(mails_to(smtp, "dave@example.com"))
    # Written with Dave's address but answering none of our mails to him: anyone could
    # have sent it, so the request stays open and Dave is told how to close it himself.
    forged = request("Re: [HR-1] Parental leave", "#resolve\nAll sorted, close it.")
    assert step(runtime, forged) == "update_ticket"
    assert view(runtime, "HR-1")["status"] != "resolved"
    told = text_of(mails_to(smtp, "dave@example.com")[-1])
    assert "#resolve  ->  this mail does not answer one of our mails to you" in told
    seen = len(mails_to(smtp, "dave@example.com"))
    body = "#resolve\nSolved, thanks: I found the form."
    ours = str(mails_to(smtp, "dave@example.com")[0]["Message-ID"])
    answer = request("Re: [HR-1] Parental leave", body, headers={"In-Reply-To": ours})
    assert step(runtime, answer) == "update_ticket"
    shown = view(runtime, "HR-1")
    assert shown["status"] == "resolved" and shown["resolved_at"] is not None
    assert kinds(smtp, "dave@example.com")[seen:] == ["feedback_request"]
    assert kinds(smtp, "erin@partner.example")[-1] == "status_update"
    to_owner = mails_to(smtp, owner)[-1]
    assert kind_of(to_owner) == "reply_relay" and "Solved, thanks" in text_of(to_owner)
    statuses = [e["detail"] for e in shown["events"] if e["kind"] == "status"]
    assert statuses[-1] == "pending -> resolved"

    # The rating works as after a member's #resolve.
    step(runtime, request("Re: [HR-1] Parental leave", "5 quick"))
    assert view(runtime, "HR-1")["rating"] == 5

    # Other commands stay the members'; a watcher may not resolve either.
    step(runtime, request("Re: [HR-1] Parental leave", "#close\n#priority high"))
    said = text_of(mails_to(smtp, "dave@example.com")[-1])
    assert "#close  ->  only members of HR can do this" in said
    assert "#priority high  ->  only members of HR can do this" in said
    step(runtime, build_mail("erin@partner.example", subject="Re: [HR-1] x", body="#resolve"))
    assert "#resolve  ->  only members of HR can do this" in text_of(
        mails_to(smtp, "erin@partner.example")[-1]
    )
    assert view(runtime, "HR-1")["status"] == "resolved"
