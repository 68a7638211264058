"""The ticket page's cache and its read-only connection: a page answers while the
database is being written, and a page already seen changes when anything it shows does
(the ticket, the rules in force, the language it is read in)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from starlette.testclient import TestClient

from aliasdesk.db.models import Ticket
from aliasdesk.db.queries import ticket_by_ref
from aliasdesk.domain.organisation import RoutingConfig
from aliasdesk.runtime import Runtime
from aliasdesk.settings.shipped import web_template_dir
from gateway.local_servers import SmtpSink
from tests.web.conftest import BASE, KEY, open_request
from web import pages
from web.app import WebContext, build_app


def test_the_page_answers_while_a_writer_holds_the_database(
    desk: Runtime, smtp_sink: SmtpSink, client: TestClient
) -> None:
    ref, link = open_request(desk, smtp_sink)
    assert client.get(link).status_code == 200
    later = datetime.now(UTC) + timedelta(seconds=1)
    with desk.db.unit_of_work() as session:
        ticket = ticket_by_ref(session, ref)
        assert ticket is not None
        ticket.subject, ticket.updated_at = "Renamed while you looked", later
        session.flush()  # the write is under way (SQLite: its lock is held) until commit
        during = client.get(link)
        assert during.status_code == 200
        assert "Parental leave" in during.text and "Renamed" not in during.text
    after = client.get(link)
    assert "Renamed while you looked" in after.text and "Parental leave" not in after.text


def test_a_reload_of_the_rules_shows_on_pages_already_seen(
    desk: Runtime, smtp_sink: SmtpSink
) -> None:
    _ref, link = open_request(desk, smtp_sink)
    rules = [desk.routing.current()]
    site = WebContext(
        db=desk.db, routing=lambda: rules[0], secret_key=KEY, template_dir=web_template_dir()
    )
    with TestClient(build_app(site), base_url=BASE) as browser:
        assert "Human Resources" in browser.get(link).text
        rules[0] = _renamed(rules[0], "HR", "People and Culture")
        page = browser.get(link).text
    assert "People and Culture" in page and "Human Resources" not in page


def _renamed(config: RoutingConfig, key: str, name: str) -> RoutingConfig:
    departments = dict(config.departments)
    departments[key] = replace(departments[key], name=name)
    return replace(config, departments=departments)


def test_a_page_read_in_another_language_is_not_served_from_the_first(
    desk: Runtime, smtp_sink: SmtpSink, site: WebContext
) -> None:
    """A page is built in its ticket's language: a ticket whose language changes (a
    ``#lang`` line, the page's own choice) is never shown from the page of the other."""
    ref, link = open_request(desk, smtp_sink)
    token = link.removeprefix("/t/")

    def speaks(language: str) -> datetime:
        with desk.db.unit_of_work() as session:
            ticket = ticket_by_ref(session, ref)
            assert isinstance(ticket, Ticket)
            ticket.language = language
            return ticket.created_at

    created = speaks("en")
    english = bytes(pages._show(site, token, "testclient", None, "").body)
    speaks("de")
    german = bytes(pages._show(site, token, "testclient", None, "").body)
    speaks("en")
    again = bytes(pages._show(site, token, "testclient", None, "").body)
    assert english == again
    assert b'<html lang="en">' in english and b'<html lang="de">' in german
    assert f"{created:%b} {created.day}, {created:%Y}".encode() in english
    assert f"{created:%b} {created.day}, {created:%Y}".encode() not in german
    assert f"{created.day}. ".encode() in german  # "Mo., 7. Dez. 2026"
