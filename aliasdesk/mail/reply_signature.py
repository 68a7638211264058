"""The end of a reply: signatures, closing blocks, and the tidy joining of what is kept.

A signature is the sender's, not news for the ticket: the "-- " delimiter (RFC 3676,
section 4.3), lines mail apps add on their own ("Sent from my iPhone", "Get Outlook for
iOS", "iPhoneから送信"), a trailing "Regards,\\nName\\nTitle" block and a "-Name" line.
Split from :mod:`aliasdesk.mail.reply`, which decides where the new text ends; the
phrases live in :mod:`aliasdesk.mail.reply_patterns`.
"""

from __future__ import annotations

from aliasdesk.mail import reply_patterns as vocab

__all__ = [
    "is_rule",
    "starts_signature",
    "strip_trailing_debris",
    "tidy",
    "trim_closing",
    "trim_dash_name",
]

#: Device signatures are short lines (K-9's, the longest, has 68 characters, a link may
#: follow Outlook's); longer ones are prose and are not even looked at.
_MAX_SIGNATURE_LINE_CHARS = 200


def starts_signature(stripped: str) -> bool:
    if stripped == "--":
        return True  # RFC 3676 section 4.3 "-- ", often sent without its trailing space
    lowered = stripped.lower()
    if len(lowered) > _MAX_SIGNATURE_LINE_CHARS:
        return False
    if not (
        vocab.DEVICE_SIGNATURE.match(lowered) is not None
        or lowered.rstrip(".!。 ").endswith(vocab.DEVICE_SIGNATURE_ENDINGS)
        or ("outlook" in lowered and vocab.OUTLOOK_MOBILE.search(lowered) is not None)
    ):
        return False
    sentence = lowered.split(". ", 1)[0]
    words = [word for word in sentence.split() if "http" not in word and "<" not in word]
    return len(words) <= vocab.MAX_DEVICE_SIGNATURE_WORDS


def is_rule(stripped: str) -> bool:
    return all(char in vocab.RULE_CHARS for char in stripped)


def trim_closing(lines: list[str]) -> list[str]:
    """Drop a trailing "Regards,\\nName\\nTitle" block when text remains above it."""
    tail = _last_content(lines, vocab.MAX_VALEDICTION_TAIL_LINES + 1)
    first = next((index for index, line in enumerate(lines) if line.strip()), None)
    for position, index in enumerate(tail):
        closing = lines[index].strip().rstrip(",.!。،，").strip().lower()
        if closing not in vocab.VALEDICTIONS:
            continue
        after = tail[position + 1 :]
        short = all(len(lines[i].strip()) <= vocab.MAX_SIGNATURE_LINE_CHARS for i in after)
        if short and first is not None and index > first:
            return lines[:index]
    return lines


def _last_content(lines: list[str], count: int) -> list[int]:
    """Indexes of the last ``count`` non-blank lines, in order; only the end is read."""
    found: list[int] = []
    index = len(lines) - 1
    while index >= 0 and len(found) < count:
        if lines[index].strip():
            found.append(index)
        index -= 1
    return found[::-1]


def trim_dash_name(lines: list[str]) -> list[str]:
    """Drop a last line such as "-Abhishek Kona", a common way to sign a short note."""
    content = _last_content(lines, 2)
    if len(content) < 2:
        return lines
    last = content[-1]
    text = lines[last].strip()
    if not text.startswith("-") or text.startswith("--") or text[1:2].isspace():
        return lines
    words = text[1:].split()
    if not 1 <= len(words) <= 3 or lines[last - 1].strip():
        return lines
    if all(word[0].isupper() and word.replace(".", "").isalpha() for word in words):
        return lines[:last]
    return lines


def tidy(kept: list[str | None]) -> str:
    """Join what was kept: one blank line where quotes were cut, no trailing debris."""
    lines: list[str] = []
    gap = False
    for line in kept:
        if line is None:
            gap = True
            continue
        if not line.strip():
            if not gap:
                lines.append("")
            continue
        if gap and lines:
            while lines and not lines[-1].strip():
                lines.pop()
            lines.append("")
        gap = False
        lines.append(line.rstrip())
    lines = strip_trailing_debris(lines)
    lines = strip_trailing_debris(trim_closing(lines))
    lines = strip_trailing_debris(trim_dash_name(lines))
    start = 0
    while start < len(lines) and not lines[start].strip():
        start += 1
    return "\n".join(lines[start:])


def strip_trailing_debris(lines: list[str]) -> list[str]:
    end = len(lines)
    while end and (not lines[end - 1].strip() or is_rule(lines[end - 1].strip())):
        end -= 1
    return lines[:end]
