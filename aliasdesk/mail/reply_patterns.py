"""The vocabulary the reply extractor recognises: reply headers, separators, signatures.

Kept apart from the algorithm in :mod:`aliasdesk.mail.reply` so that adding a language or
a mail client is a one-line change to a table here, not an edit of control flow. Every
pattern is linear: no nested or adjacent unbounded quantifiers, and callers only apply
them to strings whose length they have already capped, so a hostile body cannot make
extraction slow (the corpus carries a deliberate ReDoS trap).
"""

from __future__ import annotations

import re
from typing import Final

#: Longest joined reply header we try to recognise. Real ones, even wrapped over three
#: lines with a long display name, stay well below this; longer text is a paragraph.
MAX_HEADER_CHARS: Final = 500


def _phrases(listing: str) -> tuple[str, ...]:
    """Split a "|"-separated listing; phrases contain spaces, so spaces cannot separate."""
    return tuple(phrase.strip() for phrase in listing.split("|"))


#: A reply header is wrapped over at most this many lines by mail clients.
MAX_HEADER_LINES: Final = 3

#: Verbs that close an attribution line ("On <date>, <name> wrote:"), per language.
#: English, French, Spanish, Italian, Portuguese, Finnish, Russian, Polish, Hungarian,
#: Czech, Turkish, Chinese, Japanese, German, Nordic, Dutch, Greek.
_CLOSING_VERBS: Final = (
    r"\bwrote|\bwrites|\ba\s+écrit|\bescribió|\bha\s+scritto|\bescreveu|\bkirjoitti"
    r"|пишет|написал\(а\)|написал[аи]?|napisał\(a\)|\bnapisał[a]?|\bpisze|\bírta"
    r"|\bnapsal\(a\)|\bnapsal[a]?|yazdı|写道|寫道|書きました|のメッセージ"
    r"|\bschrieb|\bskrev|\bschreef|έγραψε"
)

#: The verb at the very end of the header, optionally followed by a colon and by the
#: dashes Zoho and Yahoo put around the line ("---- On … wrote ----").
VERB_AT_END: Final = re.compile(r"(?:" + _CLOSING_VERBS + r")\s*(?P<colon>[:：])?[\s\-]*$")

#: Languages that put the sender after the verb: "Am … schrieb Name <addr>:",
#: "Op … schreef Name <addr>:", "Den … skrev Name <addr>:". English and the Romance
#: languages always end with the verb, so "I wrote this at 10:00:" is not a header.
VERB_BEFORE_SENDER: Final = re.compile(r"\b(?:schrieb|schreef|skrev)\b")

#: Clients that write only "<date>, <name> <address>:" (Yandex, Mail.ru, some webmails).
ADDRESS_AT_END: Final = re.compile(r"<[^<>\s@]{1,200}@[^<>\s]{1,200}>\s*[:：]$")

#: Something that looks like a date or a time of day, as every such header carries.
DATE_TOKEN: Final = re.compile(r"\d{1,2}[:.h]\d{2}|\b\d{4}\b|\d{4}年|\d{1,2}[./-]\d{1,2}")

#: First words of attribution headers; used to pull the start of a header that a client
#: wrapped over several lines back into the header ("On Nov 21, 2014," / "at 10:18," / …).
HEADER_OPENERS: Final = frozenset(
    {"on", "le", "am", "el", "op", "il", "em", "den", "på", "dnia", "dne"}
)

#: Field names of the header block Outlook and webmails put above the quoted message,
#: mapped to what they mean. Several of them in a row mark the start of the history.
HEADER_FIELDS: Final[dict[str, str]] = {
    **dict.fromkeys(
        _phrases(
            "from|de|van|da|von|fra|från|от|od|lähettäjä|feladó|kimden|发件人|寄件者|"
            "差出人|보낸 사람"
        ),
        "from",
    ),
    **dict.fromkeys(
        _phrases(
            "sent|date|envoyé|envoyé le|verzonden|datum|inviato|gesendet|sendt|"
            "dato|skickat|lähetetty|päivämäärä|отправлено|дата|wysłano|data|"
            "enviado|enviada|fecha|message du|发送时间|日期|送信日時|日付|gönderildi|tarih|"
            "küldve|dátum|sent at"
        ),
        "date",
    ),
    **dict.fromkeys(
        _phrases(
            "to|à|a|aan|an|til|till|vastaanottaja|кому|do|para|收件人|宛先|kime|címzett|받는 사람"
        ),
        "to",
    ),
    **dict.fromkeys(
        _phrases(
            "subject|objet|onderwerp|oggetto|betreff|emne|ämne|aihe|тема|temat|"
            "asunto|assunto|主题|主旨|件名|konu|tárgy|제목"
        ),
        "subject",
    ),
    **dict.fromkeys(
        _phrases("cc|bcc|copie à|copie|kopie|kopio|копия|dw|kopia|抄送"),
        "cc",
    ),
}

#: Longest field name above, so a line's label is only looked up when it could match.
MAX_FIELD_LABEL: Final = max(len(label) for label in HEADER_FIELDS)

#: Lines that announce the quoted or forwarded message, once dashes around them are cut.
SEPARATOR_PHRASES: Final = frozenset(
    _phrases(
        "reply message|mensaje original|message original|original message|"
        "välitetty viesti|forwarded message|mensagem original|"
        "mensaje reenviado|message d'origine|message d’origine|"
        "message transféré|oprindelig besked|original-nachricht|"
        "originalmeddelande|исходное сообщение|alkuperäinen viesti|"
        "messaggio inoltrato|messaggio originale|opprinnelig melding|"
        "doorgestuurd bericht|mensagem encaminhada|oryginalna wiadomość|"
        "przekazana wiadomość|wiadomość oryginalna|oprindelig meddelelse|"
        "reply above this line|oorspronkelijk bericht|videresendt meddelelse|"
        "пересылаемое сообщение|ursprungligt meddelande|"
        "ursprüngliche nachricht|weitergeleitete nachricht|"
        "vidarebefordrat meddelande"
    )
)

#: Separator lines that need no dashes around them ("Begin forwarded message:").
BARE_SEPARATORS: Final = frozenset(
    _phrases(
        "begin forwarded message:|début du message réexpédié :|"
        "anfang der weitergeleiteten nachricht:"
    )
)

#: Signatures that mail apps append on their own ("Sent from my iPhone", "Get Outlook for
#: iOS", "Gesendet von Outlook für Android"). Matched against the lower-cased line start.
DEVICE_SIGNATURE: Final = re.compile(
    r"(?:sent from|sent with|sent using|sent via|get outlook for"
    r"|envoyé (?:de|depuis|à partir de|avec)|gesendet (?:von|mit)|von meinem \S+ gesendet"
    r"|verzonden (?:vanaf|met|van)|inviato da|enviado (?:desde|do|de|a partir)"
    r"|skickat från|sendt fra|lähetetty|отправлено (?:с|из)|wysłane z)(?:\s|$)"
)

#: A device signature is a short phrase; a longer line is a sentence that happens to
#: start the same way ("Sent from my desk, is much easier than my phone.").
MAX_DEVICE_SIGNATURE_WORDS: Final = 8

#: Closings that open a trailing "Regards,\nName\nTitle" block, which is signature, not
#: news for the ticket. "Thanks," is deliberately absent: thanking is content.
VALEDICTIONS: Final = frozenset(
    _phrases(
        "regards|saludos|terveisin|pozdrawiam|atentamente|beste grüße|"
        "salutations|viele grüße|с уважением|best regards|cordialement|"
        "cumprimentos|kind regards|many regards|warm regards|with regards|"
        "z poważaniem|venlig hilsen|atenciosamente|vennlig hilsen|"
        "cordiali saluti|distinti saluti|kindest regards|warmest regards|"
        "bien cordialement|freundliche grüße|med venlig hilsen|"
        "saludos cordiales|with best regards|with kind regards|"
        "med vennlig hilsen|vriendelijke groet|vänliga hälsningar|"
        "med vänliga hälsningar|met vriendelijke groet|ystävällisin terveisin|"
        "mit freundlichen grüßen|met vriendelijke groeten|"
        "mit freundlichen grüssen"
    )
)

#: At most this many short lines may follow a closing for the block to count as signature.
MAX_VALEDICTION_TAIL_LINES: Final = 4
MAX_SIGNATURE_LINE_CHARS: Final = 60

#: Characters of a line that only draws a rule ("-----", "=====", "_____").
RULE_CHARS: Final = frozenset("-_=*~—–#")
