"""The requester's ticket page over HTTP: what it shows, and to whom.

Every link followed here was read out of mail a real SMTP server received.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from aliasdesk.db.models import Delivery, Ticket, TicketEvent, TicketMessage
from aliasdesk.db.queries import ticket_by_ref
from aliasdesk.runtime import Runtime
from aliasdesk.services.page_links import page_token
from aliasdesk.services.transitions import change_status
from gateway.local_servers import SmtpSink
from tests.support.harness import build_mail, drain_jobs, feed, runtime_for
from tests.support.services import free_port
from tests.web.conftest import DAVE, caught, mail_to, member_mail, open_request
from web.app import WebContext
from web.server import BackgroundServer


def _ticket(runtime: Runtime, ref: str) -> Ticket:
    with runtime.db.reader() as session:
        ticket = ticket_by_ref(session, ref)
        assert ticket is not None
        return ticket


def _counts(runtime: Runtime, ticket_id: int) -> tuple[int, int, int]:
    with runtime.db.reader() as session:
        return tuple(  # type: ignore[return-value]
            session.scalar(
                select(func.count()).select_from(model).where(model.ticket_id == ticket_id)
            )
            for model in (TicketMessage, TicketEvent, Delivery)
        )


def _form_token(page: str) -> str:
    found = re.search(r'name="form_token" value="([^"]+)"', page)
    assert found is not None, "the page has no form token"
    return found.group(1)


def test_the_acknowledgement_links_to_a_page_with_where_the_request_stands(
    desk: Runtime, smtp_sink: SmtpSink, client: TestClient
) -> None:
    ref, link = open_request(desk, smtp_sink)
    ticket = _ticket(desk, ref)
    answer = client.get(link)
    assert answer.status_code == 200
    page = answer.text
    assert f"Request {ref}" in page and "Parental leave" in page
    assert '<span class="status" id="status">New</span>' in page  # the mail's status word
    owner = {"alice@example.com": "Alice", "bob@example.com": "Bob"}[ticket.owner or ""]
    assert f'<dd id="owner">{owner}</dd>' in page
    # HR promises a first answer within 4 hours: the page says by when, on HR's clock
    # (round the clock, so UTC).
    due = ticket.created_at + timedelta(hours=4)
    assert "First answer expected by" in page
    assert f">{due:%a}, {due:%b} {due.day}, {due:%Y, %H:%M} UTC</time>" in page
    assert "Which form do I need?" in page
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert answer.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert str(ticket.id) not in link.split("/")[-1].split(".")[0] or len(link) > 40
    # Only the random reply token and the signature: no sequential id anywhere in the path
    # (a token starting with the ticket's number is no id).
    assert link == f"/t/{ticket.reply_token}.{link.rsplit('.', 1)[1]}"


def test_no_link_is_written_into_mail_without_a_web_address(
    database_url: str, smtp_sink: SmtpSink
) -> None:
    runtime = runtime_for(database_url, smtp_sink.port, secret_key="x" * 40)
    try:
        feed(runtime, build_mail(DAVE))
        drain_jobs(runtime)
    finally:
        runtime.close()
    mails = caught(smtp_sink)
    assert mails
    for mail in mails:
        assert "/t/" not in mail.text and "online" not in mail.text


def test_the_page_shows_the_public_conversation_and_only_the_requesters_files(
    desk: Runtime, smtp_sink: SmtpSink, client: TestClient
) -> None:
    ref, link = open_request(desk, smtp_sink)
    stranger = build_mail(
        "Eve <eve@elsewhere.example>",
        subject=f"Re: [{ref}] Parental leave",
        body="STRANGER-WORDS do not show these",
    )
    feed(
        desk,
        member_mail(ref, "PUBLIC-ANSWER: the form is LV-2."),
        member_mail(ref, "#note\nINTERNAL-NOTE: check the payroll first"),
        stranger,
    )
    page = client.get(link).text
    assert "PUBLIC-ANSWER: the form is LV-2." in page
    assert "INTERNAL-NOTE" not in page and "payroll" not in page
    assert "STRANGER-WORDS" not in page and "eve@" not in page and "Eve" not in page
    assert 'id="status">Open<' in page  # the member's answer opened it


def test_a_get_changes_nothing_not_even_a_rating_link(
    desk: Runtime, smtp_sink: SmtpSink, client: TestClient
) -> None:
    ref, link = open_request(desk, smtp_sink)
    feed(desk, member_mail(ref, "#resolve\nDone: the form is attached."))
    drain_jobs(desk)
    request = [c for c in caught(smtp_sink) if "How did we do?" in c.text][-1]
    rating_links = [path for path in request.links() if "/rate/" in path]
    assert [path.rsplit("/", 1)[1] for path in rating_links] == ["1", "2", "3", "4", "5"]
    ticket = _ticket(desk, ref)
    before = _counts(desk, ticket.id)
    for path in [link, *rating_links, *rating_links]:  # as a mail scanner would
        assert client.get(path).status_code == 200
    after = _ticket(desk, ref)
    assert after.rating is None and after.status == "resolved"
    assert _counts(desk, ticket.id) == before


def test_one_click_rating_preselects_and_only_the_post_records_it(
    desk: Runtime, smtp_sink: SmtpSink, client: TestClient
) -> None:
    ref, _link = open_request(desk, smtp_sink)
    feed(desk, member_mail(ref, "#resolve\nDone."))
    drain_jobs(desk)
    request = [c for c in caught(smtp_sink) if "How did we do?" in c.text][-1]
    four = next(path for path in request.links() if path.endswith("/rate/4"))
    page = client.get(four).text
    assert re.search(r'value="4" required checked', page)
    assert not re.search(r'value="[1235]" required checked', page)
    token = four.split("/")[2]
    answer = client.post(
        f"/t/{token}/rate",
        data={"form_token": _form_token(page), "rating": "4", "comment": "Quick, thanks"},
    )
    assert answer.status_code == 303
    assert "Thank you for your rating" in client.get(answer.headers["location"]).text
    ticket = _ticket(desk, ref)
    assert (ticket.rating, ticket.rating_comment) == (4, "Quick, thanks")
    with desk.db.reader() as session:
        details = session.scalars(
            select(TicketEvent.detail).where(
                TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "feedback"
            )
        ).all()
    assert details == ["rated 4/5: Quick, thanks"]  # the words of the digit-reply path
    drain_jobs(desk)  # and the same mails: the owner hears it, the requester is thanked
    owner = ticket.owner or ""
    assert "Quick, thanks" in mail_to(smtp_sink, owner, "rated the help on").text
    assert mail_to(smtp_sink, "dave@example.com", "thank you for rating our help")


def test_a_rating_before_resolution_is_not_taken(
    desk: Runtime, smtp_sink: SmtpSink, client: TestClient
) -> None:
    ref, link = open_request(desk, smtp_sink)
    page = client.get(f"{link}/rate/5").text
    assert "once your request is resolved" in page and 'name="rating"' not in page
    answer = client.post(f"{link}/rate", data={"form_token": _form_token(page), "rating": "5"})
    assert answer.headers["location"].endswith("done=not-rated")
    assert _ticket(desk, ref).rating is None


def _confirmation(runtime: Runtime, sink: SmtpSink) -> str:
    """The confirmation link of the last confirmation mail the requester received."""
    drain_jobs(runtime)
    mail = mail_to(sink, "dave@example.com", "confirm it here")
    (link,) = [path for path in re.findall(r"/t/\S+/confirm/\S+", mail.text)]
    return link


def test_a_reply_on_the_page_is_added_once_confirmed_from_the_requesters_mail(
    desk: Runtime, smtp_sink: SmtpSink, client: TestClient
) -> None:
    ref, link = open_request(desk, smtp_sink)
    ticket = _ticket(desk, ref)
    token = _form_token(client.get(link).text)
    answer = client.post(f"{link}/reply", data={"form_token": token, "text": "Also from July?"})
    assert answer.status_code == 303 and answer.headers["location"].endswith("done=confirm-sent")
    assert "Also from July?" not in client.get(link).text, "not before it is confirmed"
    smtp_sink.clear()
    confirm = _confirmation(desk, smtp_sink)
    assert confirm.startswith(link + "/confirm/")
    before = _counts(desk, ticket.id)
    page = client.get(confirm)  # a scanner opening the mail's link adds nothing
    assert page.status_code == 200 and "Also from July?" in page.text
    assert _counts(desk, ticket.id) == before
    done = client.post(confirm, data={"form_token": _form_token(page.text)})
    assert done.headers["location"].endswith("done=reply")
    again = client.post(confirm, data={"form_token": _form_token(page.text)})
    assert again.headers["location"].endswith("done=confirmed-already")
    drain_jobs(desk)
    relayed = [c for c in caught(smtp_sink) if "Also from July?" in c.text]
    relayed = [c for c in relayed if "confirm it here" not in c.text]
    assert [c.recipients for c in relayed] == [[ticket.owner]], "passed on once, to the owner"
    assert client.get(link).text.count("Also from July?") == 1


def test_a_forwarded_link_alone_cannot_reply_or_solve(
    desk: Runtime, smtp_sink: SmtpSink, client: TestClient
) -> None:
    """Whoever got the link by forward can press every button: nothing reaches the ticket
    without the link only the requester's mailbox receives."""
    ref, link = open_request(desk, smtp_sink)
    ticket = _ticket(desk, ref)
    token = _form_token(client.get(link).text)
    client.post(f"{link}/reply", data={"form_token": token, "text": "FORWARDED-WORDS"})
    client.post(f"{link}/solve", data={"form_token": token})
    drain_jobs(desk)
    assert _ticket(desk, ref).status == ticket.status
    with desk.db.reader() as session:
        texts = session.scalars(
            select(TicketMessage.text).where(
                TicketMessage.ticket_id == ticket.id, TicketMessage.direction == "in"
            )
        ).all()
    assert not any("FORWARDED-WORDS" in text for text in texts)
    confirmations = [c for c in caught(smtp_sink) if "confirm it here" in c.text]
    assert {tuple(c.recipients) for c in confirmations} == {("dave@example.com",)}
    for guess in (f"{link}/confirm/{'A' * 32}", f"{link}/confirm/short"):
        assert client.get(guess).status_code == 404
        assert client.post(guess, data={"form_token": token}).status_code == 404
    assert _ticket(desk, ref).status == ticket.status


def test_a_confirmation_link_works_only_on_its_own_ticket(
    desk: Runtime, smtp_sink: SmtpSink, client: TestClient
) -> None:
    _ref, link = open_request(desk, smtp_sink)
    other_ref, other_link = open_request(desk, smtp_sink, body="Another question")
    token = _form_token(client.get(link).text)
    client.post(f"{link}/solve", data={"form_token": token})
    nonce = _confirmation(desk, smtp_sink).rsplit("/", 1)[1]
    theirs = _form_token(client.get(other_link).text)
    moved = f"{other_link}/confirm/{nonce}"
    assert client.get(moved).status_code == 404
    assert client.post(moved, data={"form_token": theirs}).status_code == 404
    assert _ticket(desk, other_ref).status != "resolved"


def test_the_requester_can_mark_it_solved(
    desk: Runtime, smtp_sink: SmtpSink, client: TestClient
) -> None:
    ref, link = open_request(desk, smtp_sink)
    token = _form_token(client.get(link).text)
    answer = client.post(f"{link}/solve", data={"form_token": token})
    assert answer.headers["location"].endswith("done=confirm-sent")
    assert _ticket(desk, ref).status == "new"
    confirm = _confirmation(desk, smtp_sink)
    page = client.get(confirm)
    assert "Mark your request as solved?" in page.text
    done = client.post(confirm, data={"form_token": _form_token(page.text)})
    assert done.headers["location"].endswith("done=solved")
    assert _ticket(desk, ref).status == "resolved"


def test_a_solved_confirmation_does_its_action_once(
    desk: Runtime, smtp_sink: SmtpSink, client: TestClient
) -> None:
    """Pressed again after a member opened the ticket once more (a forwarded mail, a
    week-old tab), the link resolves nothing."""
    ref, link = open_request(desk, smtp_sink)
    token = _form_token(client.get(link).text)
    client.post(f"{link}/solve", data={"form_token": token})
    confirm = _confirmation(desk, smtp_sink)
    form = {"form_token": _form_token(client.get(confirm).text)}
    assert client.post(confirm, data=form).headers["location"].endswith("done=solved")
    feed(desk, member_mail(ref, "#status open\nOne more thing to check."))
    drain_jobs(desk)
    assert _ticket(desk, ref).status == "open"
    again = client.post(confirm, data=form)
    assert again.headers["location"].endswith("done=confirmed-already")
    assert _ticket(desk, ref).status == "open"


def test_a_closed_ticket_takes_nothing_from_its_page(
    desk: Runtime, smtp_sink: SmtpSink, client: TestClient
) -> None:
    """The page hides its forms once the ticket is closed; a form kept open in a tab, and
    a confirmation asked for before, add nothing to it."""
    ref, link = open_request(desk, smtp_sink)
    token = _form_token(client.get(link).text)
    client.post(f"{link}/reply", data={"form_token": token, "text": "Asked before closing"})
    confirm = _confirmation(desk, smtp_sink)
    form = {"form_token": _form_token(client.get(confirm).text)}
    feed(desk, member_mail(ref, "#close"))
    drain_jobs(desk)
    ticket = _ticket(desk, ref)
    assert ticket.status == "closed"
    before = _counts(desk, ticket.id)
    late = client.post(f"{link}/reply", data={"form_token": token, "text": "LATE WORDS"})
    assert late.headers["location"].endswith("done=closed")
    assert client.post(confirm, data=form).headers["location"].endswith("done=closed")
    assert _counts(desk, ticket.id) == before
    assert "your mail starts a new request" in client.get(late.headers["location"]).text


def test_mail_to_an_outside_requester_carries_no_page_link(
    desk: Runtime, smtp_sink: SmtpSink
) -> None:
    """Anyone can write with an outside From; the page shows the request whole, so a
    forger's victim must not get a link to it (their acknowledgement does not quote it)."""
    words = "Confirm your salary at http://evil.example/login"
    feed(desk, build_mail("Victim <victim@outside.example>", body=words))
    drain_jobs(desk)
    ack = mail_to(smtp_sink, "victim@outside.example", "Your request is now ticket")
    assert ack.links() == [] and "evil.example" not in ack.text
    _ref, link = open_request(desk, smtp_sink)  # the organisation's own people still do
    assert "/t/" in link


def test_a_token_with_anything_after_it_opens_nothing(
    desk: Runtime, smtp_sink: SmtpSink, client: TestClient
) -> None:
    _ref, link = open_request(desk, smtp_sink)
    assert client.get(link).status_code == 200
    assert client.get(link + "%0A").status_code == 404


@pytest.mark.parametrize("form", [{}, {"form_token": "forged"}, {"form_token": ""}])
def test_a_post_without_the_pages_form_token_is_refused(
    desk: Runtime, smtp_sink: SmtpSink, client: TestClient, form: dict[str, str]
) -> None:
    ref, link = open_request(desk, smtp_sink)
    ticket = _ticket(desk, ref)
    before = _counts(desk, ticket.id)
    for action, extra in (("reply", {"text": "sneaky"}), ("solve", {}), ("rate", {"rating": "1"})):
        answer = client.post(f"{link}/{action}", data={**form, **extra})
        assert answer.status_code == 403
        assert "could not be accepted" in answer.text
    assert _counts(desk, ticket.id) == before
    assert _ticket(desk, ref).status == ticket.status


def test_another_tickets_form_token_does_not_work_here(
    desk: Runtime, smtp_sink: SmtpSink, client: TestClient
) -> None:
    ref, link = open_request(desk, smtp_sink)
    _other_ref, other_link = open_request(desk, smtp_sink, body="Another question")
    theirs = _form_token(client.get(other_link).text)
    answer = client.post(f"{link}/solve", data={"form_token": theirs})
    assert answer.status_code == 403
    assert _ticket(desk, ref).status != "resolved"


def _tampered(link: str) -> list[str]:
    token = link.rsplit("/", 1)[1]
    reply_token, mac = token.split(".")
    flipped = mac[:-1] + ("A" if mac[-1] != "A" else "B")
    return [
        f"/t/{reply_token}.{flipped}",  # a forged signature
        f"/t/{'0' * 16}.{mac}",  # a made-up ticket
        f"/t/{reply_token}",  # no signature at all
        "/t/1",  # a guessed sequential id
        f"/t/{token}x",
    ]


def test_forged_guessed_and_other_requesters_links_get_a_refusal_and_no_data(
    desk: Runtime, smtp_sink: SmtpSink, client: TestClient
) -> None:
    ref, link = open_request(desk, smtp_sink)
    ticket = _ticket(desk, ref)
    other = Ticket(reply_token=ticket.reply_token, requester="mallory@example.com")
    wrong_key = Ticket(reply_token=ticket.reply_token, requester=ticket.requester)
    candidates = [
        *_tampered(link),
        f"/t/{page_token(desk.settings.secret_key or '', other)}",  # bound to someone else
        f"/t/{page_token('another-key-' + 'x' * 32, wrong_key)}",
    ]
    for path in candidates:
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert "does not open a request" in answer.text
        assert ref not in answer.text and "Parental" not in answer.text
        assert answer.headers["referrer-policy"] == "no-referrer"


def test_a_link_expires_thirty_days_after_the_ticket_closed(
    desk: Runtime, smtp_sink: SmtpSink, client: TestClient
) -> None:
    ref, link = open_request(desk, smtp_sink)
    now = datetime.now(UTC)
    config = desk.routing.current()
    with desk.db.unit_of_work() as session:
        ticket = ticket_by_ref(session, ref)
        assert ticket is not None
        for status, days in (("resolved", 40), ("closed", 29)):
            change_status(
                session,
                ticket,
                status,
                actor="alice@example.com",
                config=config,
                cause="test",
                now=now - timedelta(days=days),
                quiet=True,
            )
    assert client.get(link).status_code == 200  # closed 29 days ago: still shown
    with desk.db.unit_of_work() as session:
        event = session.scalars(
            select(TicketEvent).where(TicketEvent.detail.like("% -> closed%"))
        ).one()
        event.at = now - timedelta(days=31)
    answer = client.get(link)
    assert answer.status_code == 410
    assert "expired" in answer.text and ref not in answer.text


def test_repeated_bad_links_are_slowed_down(
    desk: Runtime, smtp_sink: SmtpSink, client: TestClient
) -> None:
    _ref, link = open_request(desk, smtp_sink)
    bad = _tampered(link)[0]
    for _ in range(10):
        assert client.get(bad).status_code == 404
    refused = client.get(link)  # even a good link, from this client, for a while
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert "Parental" not in refused.text


def test_the_token_never_reaches_the_log_of_a_real_server(
    desk: Runtime, smtp_sink: SmtpSink, site: WebContext, caplog: pytest.LogCaptureFixture
) -> None:
    """uvicorn itself serves here, so its own access log would show up if it were on."""
    _ref, link = open_request(desk, smtp_sink)
    token = link.rsplit("/", 1)[1]
    server = BackgroundServer(site, free_port())
    with caplog.at_level(logging.DEBUG):
        server.start()
        try:
            base = f"http://127.0.0.1:{server.port}"
            with httpx.Client(base_url=base) as browser:
                assert browser.get(link).status_code == 200
                assert browser.get(f"{link}/rate/3").status_code == 200
                assert browser.post(f"{link}/solve", data={}).status_code == 403
        finally:
            server.stop()
    lines = [r.getMessage() for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    assert any("path=/t/[link]/rate/3 status=200" in line for line in lines), lines
    assert not any(token in line or token.split(".")[1] in line for line in lines), lines
