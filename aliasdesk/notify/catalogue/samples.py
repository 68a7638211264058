"""The made-up ticket every sample context is about: realistic enough that a template
renders the way it will for real mail (start-up check, tests, the demo)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

SAMPLE_CREATED = datetime(2025, 3, 3, 9, 15, tzinfo=UTC)
SAMPLE_PAGE_LINK = "https://desk.example.com/t/0123456789abcdef.c2FtcGxlLXNpZ25hdHVyZS1vZi0zMmNo"

_SAMPLE_DEPARTMENTS = {
    "HR": ("Human Resources", "hr@example.com"),
    "IT": ("IT Support", "it@example.com"),
}


def sample_ticket(department: str | None) -> dict[str, Any]:
    """A ticket context's shared fields, for the requester Dave of ``department``."""
    key = department or "HR"
    name, alias = _SAMPLE_DEPARTMENTS.get(key, (f"{key} Department", f"{key.lower()}@example.com"))
    return {
        "ref": f"{key}-42",
        "subject": "Parental leave from June",
        "department_key": key,
        "department_name": name,
        "department_alias": alias,
        "recipient": "dave@example.com",
        "recipient_name": "Dave Miller",
        "requester": "dave@example.com",
        "requester_name": "Dave Miller",
        "owner": "alice@example.com",
        "owner_name": "Alice",
        "status": "new",
        "priority": "normal",
        "created_at": SAMPLE_CREATED,
        "page_link": SAMPLE_PAGE_LINK,
        "ticket_text": "Hello, I would like to take parental leave from 1 June.\n"
        "Which form do I need?",
    }


def sample_ticket_to_owner(department: str | None, **changes: Any) -> dict[str, Any]:
    """The same fields for a mail to the owner Alice."""
    return {
        **sample_ticket(department),
        "recipient": "alice@example.com",
        "recipient_name": "Alice",
        "page_link": "",
        **changes,
    }
