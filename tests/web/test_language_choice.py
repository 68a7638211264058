"""Over HTTP, against a real desk: a page speaks its reader's language, the requester
chooses theirs with the page's form (kept where ``#lang`` keeps it, so their mail follows),
a form without the page's token changes nothing, and a refused link speaks the browser's
language, never the ticket's."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from aliasdesk.db.models import LanguageChoice
from aliasdesk.db.queries import ticket_by_ref
from aliasdesk.runtime import Runtime
from aliasdesk.services import page_links
from gateway.local_servers import SmtpSink
from tests.support.harness import ROUTING, build_mail, drain_jobs, feed, runtime_for
from tests.web.conftest import (
    AUTHSERV,
    BASE,
    DAVE,
    KEY,
    caught,
    html_of,
    member_mail,
    open_request,
    web_context,
)
from web.app import build_app

GERMAN = (
    "Guten Tag, ich möchte ab dem ersten Juni Elternzeit nehmen. Welches Formular brauche "
    "ich dafür und bis wann muss ich es abgeben?"
)
_FORM = re.compile(r'name="form_token" value="([^"]+)"')


def _form_token(page: str) -> str:
    found = _FORM.search(page)
    assert found is not None, "the page has no form token"
    return found.group(1)


def _language(desk: Runtime, ref: str) -> tuple[str | None, str | None]:
    """The ticket's language and the requester's own choice (what ``#lang`` keeps)."""
    with desk.db.reader() as session:
        ticket = ticket_by_ref(session, ref)
        assert ticket is not None
        chosen = session.scalar(
            select(LanguageChoice.language).where(LanguageChoice.address == "dave@example.com")
        )
        return ticket.language, chosen


def test_the_requester_chooses_a_language_and_page_and_mail_follow(
    desk: Runtime, smtp_sink: SmtpSink, client: TestClient
) -> None:
    ref, link = open_request(desk, smtp_sink)
    page = client.get(link).text
    assert '<html lang="en">' in page and '<option value="en" lang="en" selected>' in page
    assert client.get(f"{link}/language").status_code == 405  # a GET changes nothing
    answer = client.post(
        f"{link}/language", data={"form_token": _form_token(page), "language": "de"}
    )
    assert answer.status_code == 303 and answer.headers["location"].endswith("done=language")
    assert _language(desk, ref) == ("de", "de")
    shown = client.get(answer.headers["location"]).text
    assert '<html lang="de">' in shown and '<option value="de" lang="de" selected>' in shown
    assert "Erledigt: Diese Seite und unsere Mails an Sie sind jetzt in dieser Sprache." in shown
    assert '<span class="status" id="status">Neu</span>' in shown
    smtp_sink.clear()
    feed(desk, member_mail(ref, "#resolve\nDas Formular ist LV-2."))
    drain_jobs(desk)
    to_dave = [c for c in caught(smtp_sink) if "dave@example.com" in c.recipients]
    assert to_dave and all('<html lang="de">' in html_of(c.message) for c in to_dave)
    assert '<html lang="de">' in client.get(f"{link}/rate/5").text  # the rating page too


@pytest.mark.parametrize("form", [{}, {"form_token": "forged"}, {"form_token": ""}])
def test_a_language_form_without_the_pages_token_is_refused(
    desk: Runtime, smtp_sink: SmtpSink, client: TestClient, form: dict[str, str]
) -> None:
    ref, link = open_request(desk, smtp_sink)
    answer = client.post(f"{link}/language", data={**form, "language": "fr"})
    assert answer.status_code == 403 and "could not be accepted" in answer.text
    assert _language(desk, ref) == ("en", None)


def test_a_language_aliasdesk_does_not_write_changes_nothing(
    desk: Runtime, smtp_sink: SmtpSink, client: TestClient
) -> None:
    ref, link = open_request(desk, smtp_sink)
    token = _form_token(client.get(link).text)
    answer = client.post(f"{link}/language", data={"form_token": token, "language": "it"})
    assert answer.status_code == 303 and not answer.headers["location"].endswith("language")
    assert _language(desk, ref) == ("en", None)


def test_a_german_request_gets_its_page_in_german_and_refusals_in_the_browsers_language(
    desk: Runtime, smtp_sink: SmtpSink, client: TestClient
) -> None:
    feed(desk, build_mail(DAVE, subject="Elternzeit ab Juni", body=GERMAN))
    drain_jobs(desk)
    (ack,) = [c for c in caught(smtp_sink) if "dave@example.com" in c.recipients]
    (link,) = ack.links()
    page = client.get(link, headers={"Accept-Language": "fr"})
    assert '<html lang="de">' in page.text and "Anfrage HR-1" in page.text
    reply_token, mac = link.rsplit("/", 1)[1].split(".")
    forged = f"/t/{reply_token}.{mac[:-1]}{'A' if mac[-1] != 'A' else 'B'}"
    refused = client.get(forged, headers={"Accept-Language": "nl, fr;q=0.5"})
    assert refused.status_code == 404 and '<html lang="nl">' in refused.text
    assert "Deze link opent geen aanvraag" in refused.text
    plain = client.get(forged)
    assert '<html lang="en">' in plain.text and "does not open a request" in plain.text
    assert "Elternzeit" not in refused.text + plain.text
    # Its form refused (a page held, a token missing) still says nothing in German.
    refused_form = client.post(f"{link}/solve", data={}, headers={"Accept-Language": "es"})
    assert refused_form.status_code == 403 and '<html lang="es">' in refused_form.text


@pytest.fixture
def dutch_hr(database_url: str, smtp_sink: SmtpSink, tmp_path: Path) -> Iterator[Runtime]:
    """The shipped organisation with HR's default language set to Dutch."""
    routing = tmp_path / "routing.yaml"
    text = Path(ROUTING).read_text()
    routing.write_text(
        text.replace(
            "    assignment: round_robin\n", "    language: nl\n    assignment: round_robin\n", 1
        )
    )
    runtime = runtime_for(
        database_url,
        smtp_sink.port,
        web_url=BASE,
        secret_key=KEY,
        authserv_id=AUTHSERV,
        routing_file=routing,
    )
    yield runtime
    runtime.close()
    page_links.configure(None, None)


def test_a_lead_reads_the_sign_in_link_and_dashboard_in_the_departments_language(
    dutch_hr: Runtime, smtp_sink: SmtpSink
) -> None:
    with TestClient(build_app(web_context(dutch_hr)), base_url=BASE) as browser:
        form = browser.get("/signin", headers={"Accept-Language": "fr"})
        assert '<html lang="fr">' in form.text  # nobody known yet: the browser's language
        answer = browser.post(
            "/signin",
            data={"address": "hanna@example.com", "form_token": _form_token(form.text)},
            headers={"Accept-Language": "fr"},
        )
        assert '<html lang="fr">' in answer.text  # the same for a lead and for anyone
        drain_jobs(dutch_hr)
        mails = [c for c in caught(smtp_sink) if "hanna@example.com" in c.recipients]
        link = re.findall(re.escape(BASE) + r"(/signin/[A-Za-z0-9_-]+)", mails[-1].text)[-1]
        button = browser.get(link, headers={"Accept-Language": "fr"})
        assert '<html lang="nl">' in button.text and "Inloggen" in button.text
        browser.post(link, data={"form_token": _form_token(button.text)})
        board = browser.get("/dashboard", headers={"Accept-Language": "fr"})
        assert board.status_code == 200
        assert '<html lang="nl">' in board.text and "Openstaande aanvragen" in board.text
