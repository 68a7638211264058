"""Two small text rules the notification contexts share: the name someone is greeted by,
and how much of a request a mail quotes."""

from __future__ import annotations

TICKET_TEXT_LIMIT = 2000
"""Characters of the request quoted in a notification; the full text stays in the ticket."""


def friendly_name(address: str, display_name: str | None = None) -> str:
    """A name to greet someone by: the display name if there is one, else the local part.

    "alice@example.com" -> "Alice", "john.smith@…" -> "John Smith". Mail clients show the
    display name anyway; this is only for sentences such as "Alice has got this."
    """
    if display_name and display_name.strip():
        return " ".join(display_name.split())
    local = address.split("@", 1)[0].split("+", 1)[0]
    words = [w for w in local.replace("_", ".").replace("-", ".").split(".") if w]
    return " ".join(w[:1].upper() + w[1:] for w in words) or address


def trim_text(text: str, limit: int = TICKET_TEXT_LIMIT) -> str:
    """Strip the request text and cut it at a word boundary so a notification stays short."""
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(None, 1)[0] if " " in text[:limit] else text[:limit]
    return cut.rstrip() + " […]"
