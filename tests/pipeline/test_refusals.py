"""Commands from people who may not give them: not applied, the sender told why, nothing
changed, and an outsider's words never reach the requester."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from aliasdesk.runtime import Runtime
from tests.pipeline.test_conversation import (
    ALICE,
    DAVE,
    kind_of,
    mails_to,
    open_request,
    reply,
    shown,
    step,
    text_of,
)
from tests.support.harness import runtime_for
from tests.support.smtp_script import ScriptedSmtpServer

PASS = "mx.example.com; dmarc=pass header.from=example.com"


def _unchanged(before: dict[str, Any], after: dict[str, Any]) -> None:
    for key in ("owner", "status", "priority"):
        assert after[key] == before[key], key


def test_a_strangers_close_is_refused_and_kept_for_the_owner(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    open_request(runtime, smtp)
    before = shown(runtime)
    step(runtime, reply("Mallory <mallory@elsewhere.example>", "#close\nClose this, it is done."))
    after = shown(runtime)
    _unchanged(before, after)
    [answer] = mails_to(smtp, "mallory@elsewhere.example")
    assert kind_of(answer) == "command_result"
    assert "only members of HR can change a ticket" in text_of(answer)
    kept = [m for m in after["messages"] if m["direction"] == "in"][-1]
    assert kept["internal"] is True and "Close this" in kept["text"]
    assert after["events"][-1]["kind"] == "note"
    assert [kind_of(m) for m in mails_to(smtp, "dave@example.com")] == ["acknowledgement"]
    to_owner = mails_to(smtp, "alice@example.com")[-1]
    assert kind_of(to_owner) == "reply_relay" and "Close this" in text_of(to_owner)


def test_another_departments_member_cannot_assign(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    open_request(runtime, smtp)
    before = shown(runtime)
    step(runtime, reply("carol@example.com", "#assign bob@example.com"))
    after = shown(runtime)
    _unchanged(before, after)
    [answer] = mails_to(smtp, "carol@example.com")
    assert "carol@example.com, who is not a member of HR" in text_of(answer)
    assert mails_to(smtp, "bob@example.com") == []
    assert [m for m in after["messages"] if m["direction"] == "in"][-1]["internal"] is True


def test_the_requester_cannot_close_but_is_heard(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    open_request(runtime, smtp)
    step(runtime, reply(DAVE, "#close\nNever mind, I found the form."))
    assert shown(runtime)["status"] == "new"
    assert "the requester" in text_of(mails_to(smtp, "dave@example.com")[-1])
    assert "I found the form" in text_of(mails_to(smtp, "alice@example.com")[-1])


def test_a_command_on_a_later_line_is_only_text(runtime: Runtime, smtp: ScriptedSmtpServer) -> None:
    open_request(runtime, smtp)
    step(runtime, reply(ALICE, "Hi Dave, I will #close this once you confirm.\n#close"))
    assert shown(runtime)["status"] == "open"
    assert "#close" in text_of(mails_to(smtp, "dave@example.com")[-1])


@pytest.fixture
def strict(database_url: str, smtp: ScriptedSmtpServer) -> Iterator[Runtime]:
    runtime = runtime_for(database_url, smtp.port, require_authentication_results=True)
    yield runtime
    runtime.close()


def test_unauthenticated_member_mail_is_not_acted_on(
    strict: Runtime, smtp: ScriptedSmtpServer
) -> None:
    open_request(strict, smtp)
    before = shown(strict)
    forged = {"Authentication-Results": "mx.example.com; dmarc=fail header.from=example.com"}
    step(strict, reply(ALICE, "#resolve\nAll done, bye.", headers=forged))
    step(strict, reply(ALICE, "#priority urgent"))
    after = shown(strict)
    _unchanged(before, after)
    answers = mails_to(smtp, "alice@example.com")
    refusals = [text_of(m) for m in answers if kind_of(m) == "command_result"]
    assert len(refusals) == 2 and all("Authentication-Results" in t for t in refusals)
    assert [kind_of(m) for m in mails_to(smtp, "dave@example.com")] == ["acknowledgement"]
    assert [m for m in after["messages"] if m["direction"] == "in"][-1]["internal"] is True


def test_authenticated_member_mail_is_applied(strict: Runtime, smtp: ScriptedSmtpServer) -> None:
    open_request(strict, smtp)
    step(strict, reply(ALICE, "#priority urgent\nOn it.", headers={"Authentication-Results": PASS}))
    view = shown(strict)
    assert (view["priority"], view["status"]) == ("urgent", "open")
    assert kind_of(mails_to(smtp, "dave@example.com")[-1]) == "reply_relay"
    assert not [m for m in mails_to(smtp, "alice@example.com") if kind_of(m) == "command_result"]
