"""The key that signs the ticket pages' links and forms: what a usable one looks like."""

from __future__ import annotations

MIN_SECRET_KEY = 32
KEY_HINT = (
    "a long random value, e.g. from python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
)


def secret_key(value: str) -> str:
    """A short key could be guessed offline from one signed link; refused at start-up."""
    if len(value) < MIN_SECRET_KEY:
        raise ValueError(f"must be at least {MIN_SECRET_KEY} characters ({KEY_HINT})")
    return value
