"""Which quoted lines of a reply stay with its new text, and which may be shown again.

Quoted history usually goes: the ticket already holds it. But an answer written between
quoted lines makes no sense without the lines it answers, so :func:`resolve_quotes`
keeps those. Before such an answer is relayed, :func:`drop_unseen_quotes` removes quoted
lines the recipient has not seen: a member may answer inside a mail only members got (an
assignment with its handover note), and those lines must not reach the requester.
"""

from __future__ import annotations

__all__ = ["answers_between_quotes", "drop_unseen_quotes", "resolve_quotes"]


def resolve_quotes(kept: list[str | list[str]]) -> list[str | None]:
    """Decide which quoted blocks stay: those the sender answered between.

    Quoted history below or above the new text goes (top- and bottom-posting). When the
    sender answers between quoted lines, each answer needs the lines it answers, so every
    quoted block up to the last answer stays; only the trailing history goes. A reply that
    is nothing but quoted text keeps it, since otherwise nothing at all would be kept.
    ``None`` marks the place of a dropped block.
    """
    written = [index for index, item in enumerate(kept) if isinstance(item, str) and item]
    if not written:
        return [line for item in kept if isinstance(item, list) for line in item]
    last = written[-1]
    keep = answers_between_quotes(kept, written[0], last)
    resolved: list[str | None] = []
    for index, item in enumerate(kept):
        if isinstance(item, str):
            resolved.append(item)
        elif keep and index < last:
            resolved.extend(item)
        else:
            resolved.append(None)
    return resolved


def answers_between_quotes(kept: list[str | list[str]], first: int, last: int) -> bool:
    """True when the text is written between quoted blocks, not above or below them.

    A mail that starts with the quote and has text between quoted blocks, or quoted
    history again after its text, was written into the quote. When text comes first, a
    quoted block between two pieces of text is an answered question when the text above
    it is only a lead-in ("Hi Dana,", "Answers below:"), or when two or more blocks are
    answered.
    Otherwise text above the quote is a top-posted reply and what follows the quoted
    history (a footer, a name) does not make the history new.
    """
    between = [index for index in range(first, last) if isinstance(kept[index], list)]
    leading = any(isinstance(item, list) for item in kept[:first])
    if leading:  # the sender wrote into the quote, unless only below all of it
        return bool(between) or any(isinstance(item, list) for item in kept[last + 1 :])
    if not between:
        return False
    if len(between) >= 2:
        return True
    lead = [item for item in kept[first : between[0]] if isinstance(item, str) and item]
    return len(lead) <= 2 and lead[-1].rstrip().endswith((":", ",", "：", "，", "،"))


def drop_unseen_quotes(text: str, seen: str) -> str:
    """``text`` without the quoted lines whose words do not occur in ``seen``.

    Words are compared with runs of white space made one space, so a quote re-wrapped
    by the member's client still matches the text it came from. A quoted block left
    with no words is removed with its marker-only lines, and so is the blank line that
    separated it.
    """
    if ">" not in text:
        return text
    known = " ".join(seen.split())
    kept: list[str] = []
    block: list[str] = []
    for line in [*text.split("\n"), ""]:
        if line.lstrip().startswith(">"):
            block.append(line)
            continue
        kept.extend(_seen_part(block, known))
        block = []
        if line.strip() or (kept and kept[-1].strip()):
            kept.append(line)
    return "\n".join(kept).strip("\n")


def _seen_part(block: list[str], known: str) -> list[str]:
    words = [" ".join(line.lstrip().lstrip("> ").split()) for line in block]
    keep = [line for line, said in zip(block, words, strict=True) if not said or said in known]
    if not any(said and said in known for said in words):
        return []
    while keep and not keep[0].lstrip().lstrip(">").strip():
        keep.pop(0)
    while keep and not keep[-1].lstrip().lstrip(">").strip():
        keep.pop()
    return keep
