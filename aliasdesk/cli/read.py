"""Read-only commands: rules check/explain, tickets, quarantine list, mail list."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from aliasdesk.cli.output import print_json, print_json_items, printable
from aliasdesk.db.queries import ticket_by_ref
from aliasdesk.db.session import Database
from aliasdesk.domain.refs import RefError
from aliasdesk.services import reports
from aliasdesk.settings.environment import environment_value
from aliasdesk.settings.routing_file import check_routing, load_routing


def rules_check(file: str | None) -> int:
    path = Path(file or environment_value("ALIASDESK_ROUTING_FILE", "config/routing.yaml"))
    errors = check_routing(path)
    for error in errors:
        print(error, file=sys.stderr)
    if errors:
        return 2
    config = load_routing(path)
    print(f"{path}: ok ({len(config.departments)} departments, {len(config.rules)} rules)")
    return 0


def rules_explain(mail_path: Path, *, as_json: bool) -> int:
    from aliasdesk.inbound.context import PipelineSettings
    from aliasdesk.inbound.explain import explain
    from aliasdesk.settings.env import load_settings

    settings = load_settings()
    try:
        raw = mail_path.read_bytes()
    except OSError as error:
        print(
            f"aliasdesk rules explain: cannot read {mail_path}: {error.strerror}", file=sys.stderr
        )
        return 2
    config = load_routing(settings.routing_file)
    db = _existing_database(settings.database_url)
    result = explain(raw, config, db, PipelineSettings.from_settings(settings))
    if as_json:
        print_json(result)
        return 0
    print(f"{mail_path}: {result['action']}", end="")
    if result["departments"]:
        print(f" in {', '.join(result['departments'])} (priority {result['priority']})", end="")
    print(f"\n  why: {printable(result['reason'])}")
    for line in result["trace"]:
        print(f"  - {printable(line)}")
    return 0


def _existing_database(url: str) -> Any:
    """The database if it already has our schema (threading checks need it), else None."""
    from aliasdesk.db.schema import is_current
    from aliasdesk.db.session import Database

    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return None
    try:
        db = Database(url)
        return db if is_current(db) else None
    except Exception:
        return None


def tickets_list(
    db: Database, department: str | None, status: str | None, *, as_json: bool, limit: int | None
) -> int:
    with db.reader() as session:
        rows = reports.iter_tickets(session, department, status, limit=limit)
        if as_json:
            print_json_items(rows)
            return 0
        shown = 0
        for t in rows:
            owner = t["owner"] or "unassigned"
            subject = printable(t["subject"])[:60]
            print(f"{t['ref']:<9} {t['status']:<9} {t['priority']:<7} {owner:<28} {subject}")
            shown += 1
    if not shown:
        print("no tickets")
    return 0


def tickets_show(db: Database, ref: str, *, as_json: bool) -> int:
    with db.reader() as session:
        try:
            ticket = ticket_by_ref(session, ref)
        except RefError as error:
            print(f"aliasdesk tickets show: {error}", file=sys.stderr)
            return 2
        if ticket is None:
            print(f"aliasdesk tickets show: no ticket {ref.upper()}", file=sys.stderr)
            return 1
        data = reports.show_ticket(session, ticket)
    if as_json:
        print_json(data)
        return 0
    print(f"{data['ref']}  {printable(data['subject'])}")
    print(
        f"  status {data['status']}, priority {data['priority']}, "
        f"owner {data['owner'] or 'nobody'}, requester {data['requester']}"
    )
    if data["links"]:
        print(f"  linked: {', '.join(data['links'])}")
    if data["rating"]:
        print(f"  rating: {data['rating']}/5 {printable(data.get('rating_comment') or '')}")
    print("history:")
    for event in data["events"]:
        actor, detail = printable(event["actor"] or ""), printable(event["detail"] or "")
        print(f"  {event['at'][:19]}  {event['kind']:<9} {actor}: {detail}")
    print("messages:")
    for message in data["messages"]:
        flag = " (internal)" if message["internal"] else ""
        sender = printable(message["from"] or "")
        print(f"  {message['at'][:19]}  {message['direction']} {sender}{flag}")
        for line in printable(message["text"]).splitlines():  # whole: an admin reads it all
            print(f"      {line}")
    if data["attachments"]:
        print("attachments (aliasdesk attachments get REF N -o FILE):")
    for item in data["attachments"]:
        kept = "" if item["kept"] else "  (not kept)"
        name = printable(item["filename"])
        print(f"  {item['n']:>3}. {name}  {item['content_type']}, {item['size']} bytes{kept}")
    if data["watchers"]:
        print(f"watchers: {', '.join(data['watchers'])}")
    failed = [d for d in data["deliveries"] if d["state"] == "failed"]
    for d in failed:
        print(f"  FAILED delivery: {d['kind']} to {d['recipient']}: {printable(d['error'] or '')}")
    return 0


def quarantine_list(db: Database, *, as_json: bool) -> int:
    with db.reader() as session:
        rows = reports.list_quarantine(session)
    if as_json:
        print_json(rows)
        return 0
    if not rows:
        print("quarantine is empty")
    for r in rows:
        sender, subject = printable(r["from"] or "-"), printable(r["subject"] or "-")
        print(f"#{r['id']:<6} {r['received_at'][:19]}  {sender}  {subject}")
        print(f"        reason: {printable(r['reason'] or '')}")
    return 0


def mail_list(db: Database, limit: int, *, as_json: bool) -> int:
    with db.reader() as session:
        rows = reports.list_mail(session, limit)
    if as_json:
        print_json(rows)
        return 0
    for r in rows:
        refs = ",".join(r["tickets"]) or "-"
        print(
            f"#{r['id']:<6} {r['outcome']:<13} {refs:<12} {printable(r['from'] or '-')[:30]:<30} "
            f"{printable(r['subject'] or '')[:50]}"
        )
    return 0
