"""Passwords inside URLs: found however the URL is written, and never shown.

A database or broker URL carries its password in the userinfo (``scheme://user:pw@host``)
and sometimes in the query (``?password=…``). People paste passwords holding ``@``, ``/``
or ``:`` without escaping them, so the userinfo is taken to end at the *last* ``@`` of the
URL: a later ``@`` can only mean a longer password, and hiding too much of a URL is
harmless while hiding too little is a leak. Every place that shows a URL (status, logs,
settings errors) goes through :func:`mask_url`.

The same URL read by SQLAlchemy or urllib ends the password at the *first* ``@`` or
``/``, and would try to connect to a fragment of the password as a host name (and print
it in the error). :func:`password_problem` detects that, so settings refuse such a URL
before any connection is made.
"""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import unquote

__all__ = ["MASK", "hide_passwords", "mask_url", "password_problem", "url_password"]

MASK = "********"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_QUERY_SECRET = re.compile(
    r"([?&;](?:password|passwd|pwd|pass|secret|token)=)[^&;#]*", re.IGNORECASE
)
_ENDS_PASSWORD_EARLY = ("@", "/", "?", "#")


class _Userinfo(NamedTuple):
    head: str  # scheme, "//" and the user name with its colon
    password: str
    tail: str  # "@" and everything after it


def _split(url: str) -> _Userinfo | None:
    """The URL around its userinfo password; None when it has none.

    An authority starts right after ``//``; a URL whose next character is ``/``
    (``sqlite:////var/db``) has none, so an ``@`` in its path is no userinfo.
    """
    scheme = _SCHEME.match(url)
    if scheme is None:
        return None
    rest = url[scheme.end() :]
    at = rest.rfind("@")
    if at < 0 or rest.startswith("/"):
        return None
    user, colon, password = rest[:at].partition(":")
    if not colon or not password:
        return None
    return _Userinfo(url[: scheme.end()] + user + ":", password, rest[at:])


def mask_url(url: str) -> str:
    """``postgresql://u:p@ss/w:rd@h/db`` -> ``postgresql://u:********@h/db``; query
    parameters such as ``password=`` are masked too."""
    parts = _split(url)
    shown = url if parts is None else f"{parts.head}{MASK}{parts.tail}"
    head, mark, query = shown.partition("?")
    return head + mark + _QUERY_SECRET.sub(lambda m: m.group(1) + MASK, "?" + query)[1:]


def url_password(url: str) -> str | None:
    """The userinfo password as written in the URL (escapes not decoded); None if none."""
    parts = _split(url)
    return None if parts is None else parts.password


def password_problem(url: str) -> str | None:
    """Why drivers would misread this URL's password, or None when they read it whole.

    SQLAlchemy and urllib end the password at its first ``@`` or ``/`` (and the whole
    authority at ``?`` or ``#``), so such characters must be written %-escaped.
    """
    password = url_password(url)
    if password is None:
        return None
    found = [ch for ch in _ENDS_PASSWORD_EARLY if ch in password]
    if not found:
        return None
    escapes = ", ".join(f'"{ch}" as %{ord(ch):02X}' for ch in found)
    return f"the password holds characters that end it early: write {escapes}"


def hide_passwords(text: str, *urls: str) -> str:
    """``text`` (an error message, a log line) with the passwords of ``urls`` masked,
    as written and as decoded: a driver's message may quote either."""
    for url in urls:
        password = url_password(url)
        if password is None:
            continue
        for form in sorted({password, unquote(password)}, key=len, reverse=True):
            text = text.replace(form, MASK)
    return text
