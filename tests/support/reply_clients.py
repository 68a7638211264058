"""Replies as mail clients write them, generated with the new text each one must yield.

Every combination of client x language x quoting style x posting style x signature that
a client really produces is built from the strings in ``reply_locales`` (and
``reply_locales_more``): Gmail (desktop, mobile, and its older date-first header),
Apple Mail, Thunderbird, K-9 Mail, Yahoo, Fastmail, Outlook desktop, web and mobile, and
Samsung Email. Bodies also carry what clients leave behind: zero-width spaces, non-breaking
spaces on "blank" lines, Gmail's "ᐧ" mark, addresses turned into mailto: links, headers
wrapped before the address, direction marks in right-to-left headers, CRLF line ends.

Run ``python -m tests.support.reply_clients`` to print the pass rate per language and
per client.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from tests.support.reply_locales import LOCALES, Locale
from tests.support.reply_locales_more import MORE_LOCALES

ALL_LOCALES: tuple[Locale, ...] = LOCALES + MORE_LOCALES
SENDER_NAME = "Dana Reyes"
SENDER_ADDR = "dana.reyes@example.org"
WRITER = "Sam Okafor\nIT Service Desk"
SIGNATURES = ("none", "delimiter", "device", "closing", "app")
K9_SIGNATURE = "Sent from my Android device with K-9 Mail. Please excuse my brevity."
RTL = frozenset({"ar", "he"})

#: K-9 Mail's "On %1$s, %2$s wrote:" and Yahoo's header, in the languages we have them.
K9 = {
    "en": "On 3 March 2025 09:14:00 CET, {name} <{addr}> wrote:",
    "de": "Am 3. März 2025 09:14:00 MEZ schrieb {name} <{addr}>:",
    "fr": "Le 3 mars 2025 09:14:00 GMT+01:00, {name} <{addr}> a écrit :",
}
YAHOO = {
    "en": "On Monday, March 3, 2025, 09:14:00 AM GMT+1, {name} <{addr}> wrote:",
    "de": "Am Montag, 3. März 2025, 09:14:00 MEZ hat {name} <{addr}> Folgendes geschrieben:",
    "fr": "Le lundi 3 mars 2025 à 09:14:00 UTC+1, {name} <{addr}> a écrit :",
    "es": "El lunes, 3 de marzo de 2025, 09:14:00 CET, {name} <{addr}> escribió:",
    "it": "Il lunedì 3 marzo 2025, 09:14:00 CET, {name} <{addr}> ha scritto:",
}
#: Gmail's forward separator and Apple Mail's forward line.
FORWARDS = {
    "en": ("---------- Forwarded message ---------", "Begin forwarded message:"),
    "de": (
        "---------- Weitergeleitete Nachricht ---------",
        "Anfang der weitergeleiteten Nachricht:",
    ),
    "fr": ("---------- Forwarded message ---------", "Début du message réexpédié :"),
    "es": ("---------- Forwarded message ---------", "Inicio del mensaje reenviado:"),
    "it": ("---------- Forwarded message ---------", "Inizio messaggio inoltrato:"),
    "nl": ("---------- Doorgestuurd bericht ---------", "Begin doorgestuurd bericht:"),
    "pl": ("---------- Forwarded message ---------", "Początek przekazywanej wiadomości:"),
    "ru": ("---------- Пересылаемое сообщение ---------", "Начало переадресованного сообщения:"),
}


@dataclass(frozen=True)
class GeneratedReply:
    """One generated mail body and the text the extractor must return for it."""

    client: str
    language: str
    quoting: str
    posting: str
    signature: str
    body: str
    expected: str

    @property
    def test_id(self) -> str:
        return "-".join((self.client, self.language, self.quoting, self.posting, self.signature))


# --- headers ---------------------------------------------------------------------------


def _address(variant: int) -> str:
    if variant % 4 == 3:
        return f"{SENDER_ADDR}<mailto:{SENDER_ADDR}>"  # an HTML link flattened to text
    return SENDER_ADDR


def _attribution(template: str, locale: Locale, variant: int) -> list[str]:
    name, addr = SENDER_NAME, _address(variant)
    if locale.code in RTL:
        name, addr = f"\u200f{name}\u200f", f"\u200f{addr}\u200f"
    header = template.format(name=name, addr=addr)
    cut = header.rfind(" <")
    if variant % 4 == 1 and cut > 0 and len(header) > 60:
        return [header[:cut], header[cut + 1 :]]  # wrapped before the address
    return [header]


def _block(labels: tuple[str, str, str, str], date: str, variant: int, bold: bool) -> list[str]:
    sender = f"{SENDER_NAME} <{_address(variant)}>"
    if variant % 4 == 2:
        sender = f"{SENDER_NAME} [mailto:{SENDER_ADDR}]"  # Outlook 2010-2016 as text
    values = (sender, date, "IT Service Desk <it@example.com>", "Laptop")
    return [
        f"*{label}* {value}" if bold else f"{label} {value}"
        for label, value in zip(labels, values, strict=True)
    ]


def _outlook_labels(locale: Locale) -> tuple[str, str, str, str]:
    return locale.outlook[0], locale.outlook[1], locale.outlook[2], locale.outlook[3]


HeaderMaker = Callable[[Locale, int], list[str] | None]

ATTRIBUTION_CLIENTS: dict[str, HeaderMaker] = {
    "gmail": lambda loc, v: _attribution(loc.gmail, loc, v),
    "gmail-date-first": lambda loc, v: _attribution(
        "2025-03-03 9:14 GMT+01:00 {name} <{addr}>:", loc, v
    ),
    "gmail-mobile": lambda loc, v: (
        _attribution('On 3 Mar 2025 09:14, "{name}" <{addr}> wrote:', loc, v)
        if loc.code == "en"
        else None
    ),
    "apple-mail": lambda loc, v: _attribution(loc.apple, loc, v),
    "thunderbird": lambda loc, v: _attribution(loc.thunderbird, loc, v),
    "k9": lambda loc, v: _attribution(K9[loc.code], loc, v) if loc.code in K9 else None,
    "yahoo": lambda loc, v: _attribution(YAHOO[loc.code], loc, v) if loc.code in YAHOO else None,
    # Fastmail's documented default, "On %a, %d %b %Y %H:%M %z, %+f wrote:" (English only).
    "fastmail": lambda loc, v: (
        _attribution("On Mon, 03 Mar 2025 09:14 +0100, {name} wrote:", loc, v)
        if loc.code == "en"
        else None
    ),
}

BLOCK_CLIENTS: dict[str, HeaderMaker] = {
    "outlook-desktop": lambda loc, v: _block(
        _outlook_labels(loc), loc.outlook[4], v, bold=v % 2 == 1
    ),
    "outlook-web": lambda loc, v: [
        "_" * 32,
        *_block(_outlook_labels(loc), loc.outlook[4], v, bold=False),
    ],
    "outlook-mobile": lambda loc, v: [
        "_" * 32,
        *_block(_outlook_labels(loc), loc.outlook[4], v, bold=False),
    ],
    "samsung-email": lambda loc, v: [
        loc.samsung[0],
        *_block(
            (loc.samsung[1], loc.samsung[2], loc.samsung[3], loc.samsung[4]),
            "03/03/2025 09:14 (GMT+01:00)",
            v,
            False,
        ),
    ],
}


# --- signatures and bodies ----------------------------------------------------------------


def _signature(kind: str, client: str, locale: Locale) -> str:
    if kind == "closing" and not locale.closing:
        kind = "delimiter"
    if kind == "app":
        app = {
            "outlook-mobile": locale.outlook_mobile,
            "samsung-email": locale.samsung_signature,
            "k9": K9_SIGNATURE,
        }
        return "\n\n" + app.get(client, locale.iphone)
    return {
        "none": "",
        "delimiter": f"\n\n-- \n{WRITER}\n+49 30 1234 5678",
        "device": f"\n\n{locale.iphone}",
        "closing": f"\n\n{locale.closing}\n{WRITER}",
    }[kind]


def _history(locale: Locale, quoting: str) -> list[str]:
    lines = ["Hello,", "", *locale.questions, "", SENDER_NAME]
    if quoting == "plain":
        return lines
    quoted = [f"> {line}".rstrip() for line in lines]
    if quoting == "nested":
        older = _attribution(locale.gmail, locale, 0)
        quoted += [
            ">",
            *(f"> {line}" for line in older),
            "> > Please order a laptop for Dana.",
            "> > IT",
        ]
    return quoted


def _decorate(body: str, variant: int) -> str:
    if variant % 5 == 1:
        body = body.replace("\n\n", "\n\u00a0\n", 1)  # a "blank" line made of a no-break space
    if variant % 5 == 2:
        first, _, rest = body.partition("\n")
        body = f"{first}\u200b\n{rest}"  # zero-width space after the first line
    if variant % 7 == 3:
        body = body.replace("\n", "\r\n")
    return body


def _build(
    client: str, header: list[str], locale: Locale, quoting: str, posting: str, sig: str
) -> tuple[str, str]:
    a1, a2 = locale.answers
    new = f"{a1}\n\n{a2}"
    signature = _signature(sig, client, locale)
    if client == "outlook-mobile" and sig != "app":
        signature += "\n\n" + locale.outlook_mobile  # the app signs every mail itself
    history = _history(locale, quoting)
    if posting == "top":
        tracking = "\n\n\u1427" if client.startswith("gmail") else ""
        body = "\n".join([new + signature + tracking, "", *header, "", *history])
        return body, new
    if posting == "bottom":
        return "\n".join([*header, *history, "", new + signature]), new
    q1, q2 = locale.questions
    first = f"> Hello,\n>\n> {q1}"
    answered = f"{first}\n\n{a1}\n\n> {q2}\n\n{a2}"
    greeting = [] if sig in ("none", "delimiter") else ["Dana,", ""]  # a lead-in above
    body = "\n".join([*greeting, *header, f"{answered}{signature}", "", f"> {SENDER_NAME}"])
    return body, "\n".join([*greeting, answered])


def _forward(locale: Locale, apple: bool, sig: str) -> tuple[str, str]:
    gmail_line, apple_line = FORWARDS[locale.code]
    labels = _outlook_labels(locale)
    block = _block(labels, locale.outlook[4], 0, bold=False)
    separator = [apple_line, ""] if apple else [gmail_line]
    new = f"{locale.answers[0]}\n\n{locale.answers[1]}"
    body = "\n".join(
        [new + _signature(sig, "gmail", locale), "", *separator, *block, "", *locale.questions]
    )
    return body, new


# --- the set ---------------------------------------------------------------------------

ATTRIBUTION_STYLES = (
    ("prefix", "top"),
    ("nested", "top"),
    ("plain", "top"),
    ("prefix", "bottom"),
    ("nested", "bottom"),
    ("prefix", "interleaved"),
)
BLOCK_STYLES = (("plain", "top"), ("prefix", "top"))


def generate() -> Iterator[GeneratedReply]:
    """Every generated reply, in a stable order (the same set on every run)."""
    counter = itertools.count()
    for locale in ALL_LOCALES:
        for clients, styles in (
            (ATTRIBUTION_CLIENTS, ATTRIBUTION_STYLES),
            (BLOCK_CLIENTS, BLOCK_STYLES),
        ):
            for client, make_header in clients.items():
                for quoting, posting in styles:
                    k = next(counter)
                    header = make_header(locale, k)
                    if header is None:
                        continue
                    for sig in (SIGNATURES[k % 5], SIGNATURES[(k + 2) % 5]):
                        body, expected = _build(client, header, locale, quoting, posting, sig)
                        yield GeneratedReply(
                            client, locale.code, quoting, posting, sig, _decorate(body, k), expected
                        )
        if locale.code in FORWARDS:
            for client, apple in (("gmail", False), ("apple-mail", True)):
                k = next(counter)
                for sig in (SIGNATURES[k % 5], SIGNATURES[(k + 2) % 5]):
                    body, expected = _forward(locale, apple, sig)
                    yield GeneratedReply(
                        client, locale.code, "plain", "forward", sig, _decorate(body, k), expected
                    )


def pass_rates(check: Callable[[GeneratedReply], bool]) -> dict[str, dict[str, tuple[int, int]]]:
    """Per language and per client: (replies that pass ``check``, replies generated)."""
    rates: dict[str, dict[str, tuple[int, int]]] = {"language": {}, "client": {}}
    for reply in generate():
        ok = check(reply)
        for axis, key in (("language", reply.language), ("client", reply.client)):
            hits, total = rates[axis].get(key, (0, 0))
            rates[axis][key] = (hits + ok, total + 1)
    return rates


def main() -> None:
    from aliasdesk.mail.reply import extract_reply

    rates = pass_rates(lambda reply: extract_reply(reply.body) == reply.expected)
    for axis, table in rates.items():
        print(f"per {axis}:")
        for key, (hits, total) in sorted(table.items()):
            print(f"  {key:<18} {hits:>4}/{total:<4} {100 * hits / total:6.1f} %")
    hits = sum(h for h, _ in rates["client"].values())
    total = sum(t for _, t in rates["client"].values())
    print(f"all: {hits}/{total} {100 * hits / total:.1f} %")


if __name__ == "__main__":
    main()
