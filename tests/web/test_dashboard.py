"""The leads' dashboard over HTTP: signing in with the mailed link, who sees what, and
every way in that must stay shut.

Sign-in links are read out of the mail a real SMTP server received; the routing file is
the shipped one (HR led by hanna@, alice@ a member of HR, ops@ an admin).
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import replace
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from aliasdesk.cli.report import run_report
from aliasdesk.db.models import Delivery, SignIn, SlaTimer
from aliasdesk.db.queries import ticket_by_ref
from aliasdesk.runtime import Runtime
from aliasdesk.services.dashboard import period_days
from aliasdesk.services.sign_ins import request_link, signed, use_link
from gateway.local_servers import SmtpSink
from tests.support.harness import build_mail, drain_jobs, feed
from tests.web.conftest import BASE, DAVE, KEY, caught, open_request
from web.app import WebContext

_SIGN_IN = re.compile(re.escape(BASE) + r"(/signin/[A-Za-z0-9_-]+)")
_FORM = re.compile(r'name="form_token" value="([^"]+)"')


def _form_token(page: str) -> str:
    found = _FORM.search(page)
    assert found is not None, "the page has no form token"
    return found.group(1)


def _ask(client: TestClient, address: str) -> str:
    """Ask for a link on the sign-in page as a browser would; the answer's text."""
    page = client.get("/signin")
    assert page.status_code == 200
    answer = client.post("/signin", data={"address": address, "form_token": _form_token(page.text)})
    assert answer.status_code == 200
    return answer.text


def _links_to(sink: SmtpSink, address: str) -> list[str]:
    found: list[str] = []
    for mail in caught(sink):
        if address in mail.recipients and "sign in" in mail.text:
            found.extend(_SIGN_IN.findall(mail.text))
    return found


def _mailed_link(desk: Runtime, sink: SmtpSink, client: TestClient, address: str) -> str:
    _ask(client, address)
    drain_jobs(desk)
    links = _links_to(sink, address)
    assert links, f"no sign-in link mailed to {address}"
    return links[-1]


def _sign_in(desk: Runtime, sink: SmtpSink, client: TestClient, address: str) -> None:
    link = _mailed_link(desk, sink, client, address)
    button = client.get(link)
    answer = client.post(link, data={"form_token": _form_token(button.text)})
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard"


def _sign_ins(desk: Runtime) -> list[SignIn]:
    with desk.db.reader() as session:
        return list(session.scalars(select(SignIn).order_by(SignIn.id)))


def test_a_lead_signs_in_from_the_mailed_link_and_reads_their_department(
    desk: Runtime, smtp_sink: SmtpSink, client: TestClient
) -> None:
    ref, _ = open_request(desk, smtp_sink)
    link = _mailed_link(desk, smtp_sink, client, "hanna@example.com")
    (mail,) = [c for c in caught(smtp_sink) if "hanna@example.com" in c.recipients]
    assert mail.message["From"].addresses[0].addr_spec == "hr@example.com"
    assert "Human Resources dashboard" in mail.subject
    assert (row := _sign_ins(desk)[0]).token_hash not in link and row.used_at is None

    # A scanner (or the person) opening the link: a button, no session, nothing used.
    for _ in range(3):
        button = client.get(link)
        assert button.status_code == 200 and "Sign me in" in button.text
        assert "set-cookie" not in button.headers or "aliasdesk_session" not in str(
            button.headers.get_list("set-cookie")
        )
    assert _sign_ins(desk)[0].used_at is None

    answer = client.post(link, data={"form_token": _form_token(button.text)})
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("aliasdesk_session=")
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=lax" in cookie
    page = client.get("/dashboard")
    assert page.status_code == 200
    assert 'id="viewer">hanna@example.com<' in page.text
    assert "Human Resources (HR)" in page.text and "IT Support" not in page.text
    assert ref in page.text and "Parental leave" in page.text
    assert re.search(r'data-figure="tickets_in">1<', page.text)
    assert page.headers["referrer-policy"] == "no-referrer"


def test_a_link_signs_in_once_even_when_two_presses_race(
    desk: Runtime, smtp_sink: SmtpSink, client: TestClient, site: WebContext
) -> None:
    link = _mailed_link(desk, smtp_sink, client, "alice@example.com")
    token = link.rsplit("/", 1)[1]
    start = threading.Barrier(2)
    cookies: list[str | None] = []

    def press() -> None:
        start.wait()
        with desk.db.unit_of_work() as session:
            cookies.append(use_link(session, site.routing(), KEY, token, site.clock()))

    threads = [threading.Thread(target=press) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(cookies) == 2 and cookies.count(None) == 1, "one press signed in, one did not"
    button = client.get(link)
    assert button.status_code == 404 and "does not work" in button.text
    again = client.post(link, data={"form_token": signed(KEY, "link", token)})
    assert again.status_code == 404 and "aliasdesk_session" not in str(again.headers)
    assert [row.used_at is not None for row in _sign_ins(desk)] == [True]


def test_asks_at_once_for_one_address_stay_within_its_three_links(
    desk: Runtime, site: WebContext
) -> None:
    """Eight asks racing (the page runs each in its own thread): the count of recent links
    and the new one are one step, on PostgreSQL too."""
    start = threading.Barrier(8)
    queued: list[bool] = []

    def ask() -> None:
        start.wait()
        with desk.db.unit_of_work() as session:
            queued.append(
                request_link(session, site.routing(), "hanna@example.com", BASE, site.clock())
            )

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(queued) == [False] * 5 + [True] * 3
    assert len(_sign_ins(desk)) == 3


def test_expired_used_and_forged_links_are_refused_with_no_data(
    desk: Runtime, smtp_sink: SmtpSink, client: TestClient, site: WebContext
) -> None:
    open_request(desk, smtp_sink)
    used = _mailed_link(desk, smtp_sink, client, "hanna@example.com")
    client.post(used, data={"form_token": _form_token(client.get(used).text)})
    client.cookies.clear()
    stale = _mailed_link(desk, smtp_sink, client, "alice@example.com")
    stale_form = _form_token(client.get(stale).text)
    later = site.clock() + timedelta(minutes=16)
    site.clock = lambda: later
    forged = "/signin/" + "A" * 43
    for link, form in ((used, ""), (stale, stale_form), (forged, ""), ("/signin/short", "")):
        shown = client.get(link)
        assert shown.status_code == 404 and "does not work" in shown.text
        posted = client.post(link, data={"form_token": form or "x"})
        assert posted.status_code in (403, 404)
        assert "aliasdesk_session" not in str(posted.headers)
        for answer in (shown, posted):
            assert "Parental leave" not in answer.text and "HR-" not in answer.text
    assert client.get("/dashboard").status_code == 303
    assert client.get("/dashboard.csv").headers["location"] == "/signin"


def test_a_member_sees_only_their_departments_and_an_admin_sees_all(
    desk: Runtime, smtp_sink: SmtpSink, client: TestClient
) -> None:
    feed(desk, build_mail(DAVE, to="it@example.com", subject="Laptop broken", body="Screen."))
    drain_jobs(desk)
    _sign_in(desk, smtp_sink, client, "alice@example.com")
    page = client.get("/dashboard").text
    assert "Human Resources (HR)" in page
    assert "IT Support" not in page and "Laptop broken" not in page and "IT-" not in page
    rows = client.get("/dashboard.csv?period=4weeks").text.splitlines()
    assert [row.split(",")[0] for row in rows[1:]] == ["HR"]
    assert "Laptop broken" not in client.get("/dashboard?period=4weeks&department=IT").text

    client.cookies.clear()
    _sign_in(desk, smtp_sink, client, "ops@example.com")
    (mail,) = [c for c in caught(smtp_sink) if "ops@example.com" in c.recipients]
    assert mail.message["From"].addresses[0].addr_spec == "aliasdesk-noreply@example.com"
    page = client.get("/dashboard").text
    for name in ("Human Resources", "IT Support", "Facilities", "Finance"):
        assert name in page
    assert "Laptop broken" in page
    rows = client.get("/dashboard.csv").text.splitlines()
    assert [row.split(",")[0] for row in rows[1:]] == ["HR", "IT", "FAC", "FIN"]


def test_the_same_answer_whoever_asks_and_mail_only_for_people_of_the_desk(
    desk: Runtime, smtp_sink: SmtpSink, client: TestClient
) -> None:
    known = _ask(client, "hanna@example.com")
    unknown = _ask(client, "mallory@example.org")
    requester = _ask(client, "dave@example.com")  # an employee, but no member or lead
    assert known.replace("hanna@example.com", "X") == unknown.replace("mallory@example.org", "X")
    assert known.replace("hanna@example.com", "X") == requester.replace("dave@example.com", "X")
    drain_jobs(desk)
    assert [c.recipients for c in caught(smtp_sink)] == [["hanna@example.com"]]
    assert [row.address for row in _sign_ins(desk)] == ["hanna@example.com"]


def test_missing_form_tokens_are_refused(
    desk: Runtime, smtp_sink: SmtpSink, client: TestClient
) -> None:
    client.get("/signin")
    refused = client.post("/signin", data={"address": "hanna@example.com"})
    assert refused.status_code == 403
    other_site = TestClient(client.app, base_url=BASE)  # no cookie from our form page
    token = _form_token(client.get("/signin").text)
    assert other_site.post("/signin", data={"address": "hanna@example.com", "form_token": token})
    drain_jobs(desk)
    assert _sign_ins(desk) == [] and caught(smtp_sink) == []

    link = _mailed_link(desk, smtp_sink, client, "hanna@example.com")
    assert client.post(link, data={}).status_code == 403
    assert _sign_ins(desk)[0].used_at is None, "a POST without the form token used nothing"
    _sign_in(desk, smtp_sink, client, "hanna@example.com")
    assert client.post("/signout", data={}).status_code == 403
    assert client.get("/dashboard").status_code == 200, "still signed in"


def test_signing_out_ends_the_session_for_every_copy_of_the_cookie(
    desk: Runtime, smtp_sink: SmtpSink, client: TestClient
) -> None:
    _sign_in(desk, smtp_sink, client, "hanna@example.com")
    copied = client.cookies["aliasdesk_session"]
    page = client.get("/dashboard").text
    answer = client.post("/signout", data={"form_token": _form_token(page)})
    assert answer.status_code == 303 and answer.headers["location"] == "/signin?done=signed-out"
    assert 'aliasdesk_session=""' in answer.headers["set-cookie"]
    assert client.get("/dashboard").status_code == 303
    thief = TestClient(client.app, base_url=BASE, follow_redirects=False)
    thief.cookies.set("aliasdesk_session", copied)
    assert thief.get("/dashboard").status_code == 303
    assert _sign_ins(desk)[0].signed_out_at is not None


def test_a_session_ends_after_its_hours_and_a_forged_cookie_opens_nothing(
    desk: Runtime, smtp_sink: SmtpSink, client: TestClient, site: WebContext
) -> None:
    _sign_in(desk, smtp_sink, client, "hanna@example.com")
    cookie = client.cookies["aliasdesk_session"]
    row_id, mac = cookie.split(".")
    forger = TestClient(client.app, base_url=BASE, follow_redirects=False)
    forger.cookies.set("aliasdesk_session", f"{int(row_id) + 1}.{mac}")
    assert forger.get("/dashboard").status_code == 303
    assert client.get("/dashboard").status_code == 200
    later = site.clock() + timedelta(hours=8, minutes=1)
    site.clock = lambda: later
    assert client.get("/dashboard").status_code == 303


def test_asking_is_rationed_per_address_and_per_client(
    desk: Runtime, smtp_sink: SmtpSink, client: TestClient
) -> None:
    for _ in range(4):
        _ask(client, "hanna@example.com")
    drain_jobs(desk)
    assert len(_links_to(smtp_sink, "hanna@example.com")) == 3
    _ask(client, "alice@example.com")
    page = client.get("/signin")
    busy = client.post(
        "/signin", data={"address": "bob@example.com", "form_token": _form_token(page.text)}
    )
    assert busy.status_code == 429 and busy.headers["retry-after"] == "900"
    with desk.db.reader() as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(Delivery)
                .where(Delivery.recipient == "bob@example.com")
            )
            == 0
        )


def test_the_csv_has_the_figures_of_aliasdesk_report(
    desk: Runtime,
    smtp_sink: SmtpSink,
    client: TestClient,
    site: WebContext,
    capsys: pytest.CaptureFixture[str],
) -> None:
    open_request(desk, smtp_sink)
    open_request(desk, smtp_sink, body="And the second form?")
    _sign_in(desk, smtp_sink, client, "hanna@example.com")
    for period in ("week", "4weeks"):
        download = client.get(f"/dashboard.csv?period={period}")
        assert download.headers["content-type"].startswith("text/csv")
        assert "attachment" in download.headers["content-disposition"]
        first, last = period_days(site.routing().departments["HR"], period, site.clock())
        args = SimpleNamespace(
            department="HR",
            owner=None,
            since=str(first),
            until=str(last),
            by="department",
            json=False,
            csv=True,
        )
        capsys.readouterr()
        assert run_report(desk.db, site.routing(), args) == 0
        assert download.text == capsys.readouterr().out
        assert download.text.splitlines()[1].startswith("HR,2,")


def test_the_queue_puts_the_tickets_at_risk_first(
    desk: Runtime, smtp_sink: SmtpSink, client: TestClient, site: WebContext
) -> None:
    calm, _ = open_request(desk, smtp_sink, body="No hurry.")
    late, _ = open_request(desk, smtp_sink, body="Late one.")
    with desk.db.unit_of_work() as session:
        ticket = ticket_by_ref(session, late)
        assert ticket is not None
        ticket.owner = "alice@example.com"
        for timer in session.scalars(select(SlaTimer).where(SlaTimer.ticket_id == ticket.id)):
            timer.due_at = site.clock() - timedelta(minutes=5)
        calm_ticket = ticket_by_ref(session, calm)
        assert calm_ticket is not None
        calm_ticket.owner = "alice@example.com"
    _sign_in(desk, smtp_sink, client, "hanna@example.com")
    page = client.get("/dashboard").text
    assert page.index(late) < page.index(calm)
    row = page[page.index(late) : page.index("</tr>", page.index(late))]
    assert "Overdue" in row
    calm_row = page[page.index(calm) : page.index("</tr>", page.index(calm))]
    assert "Due " in calm_row and "Overdue" not in calm_row


def test_the_log_never_shows_a_sign_in_token(
    desk: Runtime, smtp_sink: SmtpSink, client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    link = _mailed_link(desk, smtp_sink, client, "hanna@example.com")
    token = link.rsplit("/", 1)[1]
    with caplog.at_level(logging.INFO):
        client.get(link)
        client.post(link, data={"form_token": "nope"})
    ours = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("httpx"))
    assert "path=/signin/[link] status=200" in ours and "path=/signin/[link] status=403" in ours
    assert token not in ours


def test_someone_taken_out_of_the_routing_file_sees_nothing_more(
    desk: Runtime, smtp_sink: SmtpSink, client: TestClient, site: WebContext
) -> None:
    _sign_in(desk, smtp_sink, client, "alice@example.com")
    assert client.get("/dashboard").status_code == 200
    config = site.routing()
    hr = replace(config.departments["HR"], members=("bob@example.com",))
    edited = replace(config, departments={**config.departments, "HR": hr})
    site.routing = lambda: edited
    assert client.get("/dashboard").status_code == 303
    assert client.get("/dashboard.csv").status_code == 303
