"""What a reply adds to a ticket: the new text, without quoted history or signatures.

A ticket already holds every earlier message, so storing the quoted history again on each
reply would bury the one new sentence under pages of repeats (contract, section 5: "Only
the new text is stored"). Mail clients mark history in a handful of ways, all handled
here line by line, without backtracking regular expressions, so a 50 KB body costs a few
milliseconds and hostile input cannot stall the worker:

* quoted lines starting with ``>`` (RFC 3676, section 4.5) are cut out; text written
  below them (bottom-posting) is kept, and when the sender answers between quoted lines,
  the quoted lines up to the last answer stay with the answers (see
  :mod:`aliasdesk.mail.reply_quotes`);
* an attribution header ("On … wrote:", "Am … schrieb …:", "2025-03-03 9:14 GMT+01:00
  Name <addr>:", "… пише:", "…님이 작성:", …), possibly wrapped over up to three lines:
  with quoted lines after it, it goes with them; with plain text after it, everything
  from it on is history;
* Outlook-style header blocks ("From: / Sent: / To: / Subject:" in many languages),
  "-----Original Message-----"-style separators and underscore rules: history to the end;
* signatures (:mod:`aliasdesk.mail.reply_signature`): the "-- " delimiter, device lines
  ("Sent from my iPhone", "Get Outlook for iOS"), a trailing "Regards,\\nName" block.

Characters nobody sees (zero-width spaces, direction marks, Gmail's "ᐧ" mark, trailing
no-break spaces) are removed first, so they neither hide a header nor stay as debris.

The vocabulary (languages, clients, phrases) lives in :mod:`aliasdesk.mail.reply_patterns`.
"""

from __future__ import annotations

import re

from aliasdesk.mail import reply_patterns as vocab
from aliasdesk.mail import reply_signature as signature
from aliasdesk.mail.reply_quotes import drop_unseen_quotes, resolve_quotes

__all__ = ["drop_unseen_quotes", "extract_reply"]

#: Lines longer than this are never part of a reply header (a header is a short line that
#: a client may have wrapped; long lines are pasted data, logs or base64).
_MAX_HEADER_LINE_CHARS = 400


def extract_reply(text: str) -> str:
    """Return only the text the sender wrote in this reply.

    ``text`` is the plain-text body of the mail. Quoted history and signatures are removed,
    line endings become ``\\n``, trailing spaces and surrounding blank lines are dropped.
    Never raises: a body that cannot be understood is returned tidied but whole, since
    showing too much on a ticket is better than losing what the requester wrote.
    """
    if not isinstance(text, str) or not text.strip():
        return ""
    try:
        return _extract(text)
    except Exception:  # extraction must never cost the mail its text
        return text.strip()


def _extract(text: str) -> str:
    lines = _split_lines(text)
    headers = _find_reply_headers(lines)
    kept: list[str | list[str]] = []  # a list is a block of quoted lines, cut out for now
    count = len(lines)
    i = 0
    while i < count:
        line = lines[i]
        if _is_quoted(line):
            end = _end_of_quote(lines, i)
            kept.append(lines[i:end])
            i = end
            continue
        stripped = line.strip()
        if not stripped:
            kept.append("")
            i += 1
            continue
        header_end = headers.get(i)
        if header_end is not None:
            after = _next_non_blank(lines, header_end + 1)
            if after < count and _is_quoted(lines[after]):
                end = _end_of_quote(lines, after)
                kept.append(lines[after:end])
                i = end
                continue
            break  # unquoted history follows the header: the rest is not new
        if _starts_history(lines, i, stripped) or signature.starts_signature(stripped):
            break
        kept.append(line)
        i += 1
    return signature.tidy(resolve_quotes(kept))


#: Characters mail clients leave in text that nobody sees: zero-width spaces and joiners
#: at line ends, word joiners, byte-order marks and the bidirectional marks Gmail wraps
#: around names and addresses in Hebrew and Arabic headers.
#: (A character class, not str.translate: translating a long non-Latin text costs more
#: than the rest of the extraction.)
_INVISIBLE = re.compile("[\u200b\u200e\u200f\u2060\ufeff\u202a-\u202e\u2066-\u2069]")

#: Trailing debris: the above plus non-breaking spaces, joiners and the "ᐧ" mark that
#: Gmail's read-tracking extensions append below the text.
_TRAILING_DEBRIS = " \t\u00a0\u200c\u200d\u1427"


def _split_lines(text: str) -> list[str]:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if _INVISIBLE.search(text) is not None:
        text = _INVISIBLE.sub("", text)
    return [line.rstrip(_TRAILING_DEBRIS) for line in text.split("\n")]


def _is_quoted(line: str) -> bool:
    first = line[:1]
    if first == ">":
        return True
    return first.isspace() and line.lstrip().startswith(">")


def _next_non_blank(lines: list[str], start: int) -> int:
    index = start
    while index < len(lines) and not lines[index].strip():
        index += 1
    return index


def _end_of_quote(lines: list[str], start: int) -> int:
    """Index of the first line after the quoted block that begins at ``start``.

    Blank lines inside the block belong to it when quoting resumes after them. A plain
    line or two squeezed between quoted lines with no blank line around them is a quoted
    line the sender's client re-wrapped without its ``>``, not an answer.
    """
    count = len(lines)
    index = start
    while index < count:
        line = lines[index]
        if _is_quoted(line):
            index += 1
            continue
        if not line.strip():
            resume = _next_non_blank(lines, index)
            if resume < count and _is_quoted(lines[resume]):
                index = resume
                continue
            return index
        probe = index
        while probe < count and probe - index < 2:
            if not lines[probe].strip() or _is_quoted(lines[probe]):
                break
            probe += 1
        if probe < count and _is_quoted(lines[probe]):
            index = probe
            continue
        return index
    return count


# --- attribution headers ("On … wrote:") --------------------------------------------


def _find_reply_headers(lines: list[str]) -> dict[int, int]:
    """Map the first line of every attribution header to its last line.

    Headers are found from their last line, the one that ends with the verb or the colon,
    because that end is what all languages and clients share; the start is then the
    fewest preceding lines that make a whole header.
    """
    headers: dict[int, int] = {}
    floor = -1
    for end, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or len(stripped) > _MAX_HEADER_LINE_CHARS:
            continue
        if not _may_end_header(stripped):
            continue
        if _is_quoted(line) and stripped.lstrip(">").strip() != ":":
            continue  # quoted headers go with their quote; ">:" ends a wrapped "<address"
        start = _header_start(lines, end, floor)
        if start is not None:
            headers[start] = end
            floor = end
    return headers


def _may_end_header(stripped: str) -> bool:
    return stripped[-1] in ":：-" or stripped[-5:].lower() == "wrote"


def _header_start(lines: list[str], end: int, floor: int) -> int | None:
    after = _next_non_blank(lines, end + 1)
    quote_follows = after < len(lines) and _is_quoted(lines[after])
    lowest = max(floor + 1, end - vocab.MAX_HEADER_LINES + 1)
    found: int | None = None
    for start in range(end, lowest - 1, -1):
        line = lines[start]
        if not line.strip() or len(line) > _MAX_HEADER_LINE_CHARS:
            break
        if _is_quoted(line):
            if start == end:
                continue
            break
        joined = _plain_header(" ".join(lines[start : end + 1]))
        if _is_reply_header(joined, quote_follows):
            found = start
            if not line.lstrip().startswith(("<", "(", "[")):
                break
            # "<dana@example.org> wrote:" is the tail of a header wrapped before the
            # address; the name and date on the line above belong to it when they fit.
    if found is None:
        return None
    return _pull_in_opening_line(lines, found, lowest)


def _pull_in_opening_line(lines: list[str], start: int, lowest: int) -> int:
    """Extend a header found from its tail back to the line that opens it.

    "John Doe <john@doe123.com> wrote:" is already a header on its own, but when it is the
    last line of "On Nov 21, 2014," / "at 10:18," / "John Doe … wrote:", the whole three
    lines are the header. Reply text above a header does not start like one, so it stays.
    """
    if _opens_header(lines[start].strip()):
        return start
    for earlier in range(start - 1, lowest - 1, -1):
        candidate = lines[earlier].strip()
        if not candidate or _is_quoted(lines[earlier]):
            break
        if _opens_header(candidate):
            return earlier
    return start


_DIGIT = re.compile(r"\d")


def _dated(header: str) -> bool:
    return (
        vocab.TIME_OF_DAY.search(header) is not None
        and vocab.DATE_WITH_YEAR.search(header) is not None
    )


def _plain_header(text: str) -> str:
    """One-spaced header text with HTML-converted links ("a@b<mailto:a@b>") made plain.

    A header wrapped inside its address ("Dana <" / "dana@example.org>:") is joined back
    without the space the wrap left after "<".
    """
    if "mailto:" in text.lower():
        text = vocab.MAILTO_PREFIX.sub("", vocab.MAILTO_NESTED.sub("", text))
    return " ".join(text.split()).replace("< ", "<").replace(" >", ">")


def _opens_header(stripped: str) -> bool:
    if not stripped:
        return False
    if stripped[0].isdigit() or stripped[0] == "-":
        return True
    first_word = stripped.split(None, 1)[0].strip(",.").lower()
    return first_word in vocab.HEADER_OPENERS


def _is_reply_header(header: str, quote_follows: bool) -> bool:
    if len(header) > vocab.MAX_HEADER_CHARS:
        return False
    has_digit = _DIGIT.search(header) is not None
    colon = vocab.closing_verb(header)
    if colon is not None:
        anchored = "@" in header or _opens_header(header) or _dated(header)
        if has_digit and anchored and (colon or header.startswith(("On ", "-"))):
            return True
        if colon and quote_follows and len(header) <= 80:
            return True  # "Bob wrote:" directly above a quote
        if colon and len(header) <= 120 and header[-40:].find(">") > 0 and "@" in header:
            return True  # "Dana Reyes <dana@example.org> wrote:", a header without date
    lowered = header.lower()
    if lowered.startswith(vocab.QUOTING_OPENERS) and header[-1] in ":：":
        return "@" in header or quote_follows  # Horde's "Quoting Dana <dana@…>:"
    if not has_digit or header[-1] not in ":：":
        return False
    # The verb sits at most 200 characters (a sender name and address) before the colon.
    sender_follows = vocab.VERB_BEFORE_SENDER.search(header, max(0, len(header) - 220))
    if sender_follows is not None and len(header) - sender_follows.end() <= 200:
        return True
    # Only the last "<" can open an address that ends the header.
    address = vocab.ADDRESS_AT_END.search(header, max(0, header.rfind("<"), header.rfind("[")))
    return address is not None and vocab.DATE_TOKEN.search(header) is not None


# --- history separators and header blocks ---------------------------------------------


def _starts_history(lines: list[str], index: int, stripped: str) -> bool:
    if len(stripped) >= 2 and not stripped.strip("_"):
        return True  # Outlook's and mailing lists' "_____" rule
    if stripped[0] in "-_=*#":
        core = stripped.strip("-_=*~# \t").lower()
        if core in vocab.SEPARATOR_PHRASES:
            return True
    if stripped.replace(" :", ":").lower() in vocab.BARE_SEPARATORS:
        return True
    return _is_header_block(lines, index)


def _field_kind(line: str) -> str | None:
    text = line.strip().lstrip("*").lstrip()
    head = text[: vocab.MAX_FIELD_LABEL + 3]
    colon, wide = head.find(":"), head.find("：")
    if wide >= 0 and (colon < 0 or wide < colon):
        colon = wide
    if colon <= 0:
        return None
    label = text[:colon].strip().strip("*").strip().lower()
    return vocab.HEADER_FIELDS.get(label)


def _is_header_block(lines: list[str], index: int) -> bool:
    """True when ``index`` starts a "From: / Sent: / To: / Subject:" block.

    One field alone is ordinary prose ("To: everyone"); two different fields with the
    sender among them, or three different ones, are a client's summary of a message.
    Wrapped values (a long address on its own line) may sit between the fields.
    """
    first = _field_kind(lines[index])
    if first is None:
        return False
    kinds = {first}
    for line in lines[index + 1 : index + 8]:
        if not line.strip():
            break
        kind = _field_kind(line)
        if kind is not None:
            kinds.add(kind)
    return ("from" in kinds and len(kinds) >= 2) or len(kinds) >= 3
