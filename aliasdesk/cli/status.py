"""``aliasdesk status [--json]``: exit 0 when nothing needs attention, else 1."""

from __future__ import annotations

from typing import Any

from aliasdesk.cli.output import print_json
from aliasdesk.db.session import Database
from aliasdesk.services.health import gather
from aliasdesk.settings.env import Settings


def show_status(db: Database, settings: Settings, *, as_json: bool) -> int:
    document = gather(db, settings)
    if as_json:
        print_json(document)
    else:
        _print(document)
    return 0 if document["ok"] else 1


def _print(document: dict[str, Any]) -> None:
    print("ok" if document["ok"] else "needs attention:")
    for problem in document["problems"]:
        print(f"  ! {problem}")
    mailbox, routing = document["mailbox"], document["routing"]
    backlog = document["backlog"]
    rows = {
        "database": f"{document['database']['kind']} {document['database']['url']}",
        "mailbox": f"{mailbox['state']}: {mailbox['detail']}",
        "broker": document["broker"]["url"],
        "routing file": f"{routing['file']} ({_routing_state(routing)})",
        "mail waiting": backlog["mail_waiting"],
        "jobs waiting": backlog["jobs_waiting"],
        "last mail taken in": backlog["last_mail_at"] or "never",
        "quarantine": _with_dismissed(document["quarantine"]["count"], document["quarantine"]),
        "failed deliveries": _with_dismissed(
            document["deliveries"]["failed"], document["deliveries"]
        ),
        "SLA breaches (open tickets)": document["sla"]["open_breaches"],
    }
    for name, value in rows.items():
        print(f"{name:<28} {value}")


def _routing_state(routing: dict[str, Any]) -> str:
    if not routing["valid"]:
        return "does not validate"
    current = routing["in_force_is_on_disk"]
    if current is None:
        return "valid; no gateway has reported"
    return "in force" if current else "NOT the version in force"


def _with_dismissed(count: int, part: dict[str, Any]) -> str:
    return f"{count} (+{part['dismissed']} dismissed)" if part["dismissed"] else str(count)
