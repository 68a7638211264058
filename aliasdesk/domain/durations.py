"""Short human durations ("4h", "3d", "1h30m") as used for SLAs in the routing file.

Admins write SLAs by hand, so the format is the one people already use in chat and
tickets; anything else is rejected with a message that shows the accepted form rather
than guessed at, because a silently wrong SLA escalates tickets at the wrong time.
"""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS: dict[str, timedelta] = {
    "w": timedelta(weeks=1),
    "d": timedelta(days=1),
    "h": timedelta(hours=1),
    "m": timedelta(minutes=1),
    "s": timedelta(seconds=1),
}
_ORDER = "wdhms"
_PART = re.compile(r"(\d+)([wdhms])")
_WHOLE = re.compile(r"(?:\d+[wdhms])+")

FORMAT_HELP = 'a number with a unit w, d, h, m or s, e.g. "30m", "4h", "3d", "1w" or "1h30m"'


def parse_duration(text: str) -> timedelta:
    """Turn ``"1h30m"`` into ``timedelta(hours=1, minutes=30)``.

    Units must appear at most once each, largest first, and the total must be positive:
    "30m1h" or "0h" are almost certainly typos, and an SLA of zero makes no sense.
    """
    if not isinstance(text, str):
        raise ValueError(f"expected a duration: {FORMAT_HELP}")
    compact = text.strip().lower().replace(" ", "")
    if not compact or _WHOLE.fullmatch(compact) is None:
        raise ValueError(f'"{text}" is not a duration: use {FORMAT_HELP}')
    total = timedelta()
    last = -1
    for number, unit in _PART.findall(compact):
        position = _ORDER.index(unit)
        if position <= last:
            raise ValueError(
                f'"{text}" is not a duration: each unit at most once, largest first (e.g. 1h30m)'
            )
        last = position
        total += int(number) * _UNITS[unit]
    if total <= timedelta():
        raise ValueError(f'"{text}" is not a duration: it must be longer than zero')
    return total


def format_duration(value: timedelta) -> str:
    """The inverse of :func:`parse_duration`, for traces and error messages."""
    seconds = int(value.total_seconds())
    if seconds <= 0:
        return "0m"
    parts: list[str] = []
    for unit in _ORDER:
        size = int(_UNITS[unit].total_seconds())
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
