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

#: Verbs that close an attribution line ("On <date>, <name> wrote:"), per language, as
#: Gmail, Apple Mail, Thunderbird, K-9 and Outlook write them: English, French, Spanish,
#: Catalan, Galician, Italian, Portuguese, Romanian, Finnish, Estonian, Polish, Czech,
#: Slovak, Slovenian, Croatian, Hungarian, Lithuanian, Latvian, Indonesian, Vietnamese,
#: German, Dutch, Icelandic and the Nordic languages. These must follow a non-letter.
BOUNDED_VERBS: Final = _phrases(
    "wrote|writes|a écrit|escribió|ha escrito|ha escrit|va escriure|escribiu|ha scritto|"
    "escreveu|a scris|kirjoitti|kirjutas|napisał(a)|napisał|napisała|pisze|írta|"
    "napsal(a)|napsal|napsala|napísal(a)|napísal|napísala|napisal(a)|napisao/la|"
    "napisao je|napisao|napisala|rašė|rakstīja|menulis|đã viết|geschrieben|geschreven|"
    "schrieb|skrev|skreiv|schreef|skrifaði"
)

#: The same for scripts where a word boundary is not needed or not marked: Russian,
#: Ukrainian, Belarusian, Bulgarian, Turkish (a suffix), Greek, Hebrew, Chinese,
#: Japanese, Korean, Thai.
UNBOUNDED_VERBS: Final = _phrases(
    "пишет|пише|написал(а)|написал|написала|написали|написав(ла)|написав|написа|"
    "напісаў|yazdı|έγραψε|כתב/ה|כתבה|כתב|写道|寫道|書きました|のメッセージ|のメール|"
    "님이 작성|작성|쓴 글|เขียนว่า"
)

#: The closing verb sits at the very end of a header ("wrote:", "wrote ----"), so only
#: the tail is looked at; comparing endings costs the same for every language added.
_VERB_TAIL_CHARS: Final = 60


def closing_verb(header: str) -> bool | None:
    """Whether ``header`` ends with a closing verb: ``None`` if not, else if a colon follows.

    Dashes and spaces after it are allowed: Zoho and Yahoo write "---- On … wrote ----".
    """
    tail = header[-_VERB_TAIL_CHARS:].rstrip(" \t-")
    colon = tail.endswith((":", "："))
    if colon:
        tail = tail[:-1].rstrip()
    tail = tail.lower()
    if tail.endswith(UNBOUNDED_VERBS):
        return colon
    for verb in BOUNDED_VERBS:
        if tail.endswith(verb):
            before = len(tail) - len(verb) - 1
            if before < 0 or not (tail[before].isalnum() or tail[before] == "_"):
                return colon
    return None


#: Languages and clients that put the sender after the verb: "Am … schrieb Name <addr>:",
#: "Op … schreef Name <addr>:", "Den … skrev Name <addr>:", Apple Mail's Polish
#: "Wiadomość napisana przez Name <addr> w dniu …:", Gmail's Arabic "… كتب Name <addr>:"
#: or "… بواسطة Name <addr>:", Hebrew "… מאת Name <addr>:" and Hungarian
#: "Name <addr> ezt írta (időpont: …):", Apple Mail's Finnish "Name <addr> kirjoitti
#: 3.3.2025 kello 9.14:". English and the Romance languages always end
#: with the verb, so "I wrote this at 10:00:" is not a header.
VERB_BEFORE_SENDER: Final = re.compile(
    r"\b(?:schrieb|schreef|skrev|skreiv|kirjoitti|napisana\s+przez|ezt\s+írta|كتب|بواسطة|מאת)"
    r"(?!\w)"
)

#: Address forms that mail clients turn HTML links into: "a@b<mailto:a@b>", "[mailto:a@b]".
#: They are reduced to the plain address before a header is judged.
MAILTO_NESTED: Final = re.compile(r"(?<=[^\s<>])<mailto:[^<>\s]{0,200}>", re.IGNORECASE)
MAILTO_PREFIX: Final = re.compile(r"mailto:", re.IGNORECASE)

#: How Horde, Roundcube and some webmails open a header that has no verb at its end:
#: "Quoting Dana <dana@example.org>:", "Zitat von Dana …:", "Citando Dana …:".
QUOTING_OPENERS: Final = _phrases(
    "quoting |zitat von |citando |citazione di |citation de |cytowanie |citace |idézet "
)

#: Clients that write only "<date>, <name> <address>:" (Yandex, Mail.ru, some webmails).
ADDRESS_AT_END: Final = re.compile(r"[<\[][^<>\[\]\s@]{1,200}@[^<>\[\]\s]{1,200}[>\]]\)?\s*[:：]$")

#: A time of day and a date with its year, both: enough to tell "W dniu 3.03.2025 o 09:14,
#: Dana pisze:" from a sentence that happens to end in a verb and a colon.
TIME_OF_DAY: Final = re.compile(r"\d{1,2}[:.]\d{2}(?!\d)")
DATE_WITH_YEAR: Final = re.compile(r"\d{4}|\d{1,2}[./-]\d{1,2}[./-]\d{2}")

#: Something that looks like a date or a time of day, as every such header carries.
DATE_TOKEN: Final = re.compile(r"\d{1,2}[:.h]\d{2}|\b\d{4}\b|\d{4}年|\d{1,2}[./-]\d{1,2}")

#: First words of attribution headers; used to pull the start of a header that a client
#: wrapped over several lines back into the header ("On Nov 21, 2014," / "at 10:18," / …).
HEADER_OPENERS: Final = frozenset(
    _phrases("on|le|am|el|op|il|em|den|på|dnia|dne|dňa|στις|בתאריך|vào|pada|às|þann")
)

#: Field names of the header block Outlook (desktop, web, mobile), Samsung Email, K-9 and
#: webmails put above the quoted or forwarded message, mapped to what they mean. Several
#: of them in a row mark the start of the history.
HEADER_FIELDS: Final[dict[str, str]] = {
    **dict.fromkeys(
        _phrases(
            "from|de|de la|送信元|van|da|von|fra|från|от|від|od|lähettäjä|feladó|kimden|από|"
            "发件人|寄件者|寄件人|差出人|보낸 사람|من|מאת|šalje|dari|từ|จาก|saatja|nuo"
        ),
        "from",
    ),
    **dict.fromkeys(
        _phrases(
            "sent|date|dată|envoyé|envoyé le|verzonden|datum|inviato|gesendet|sendt|"
            "dato|skickat|lähetetty|päivämäärä|отправлено|надіслано|дата|wysłano|data|"
            "enviado|enviada|enviado el|enviada em|fecha|message du|发送时间|日期|寄件日期|"
            "送信日時|日付|gönderildi|gönderilme|tarih|küldve|elküldve|dátum|sent at|"
            "odesláno|odoslané|στάλθηκε|ημερομηνία|보낸 날짜|날짜|تم الإرسال|التاريخ|"
            "נשלח|תאריך|trimis|poslano|изпратено|dikirim|tanggal|đã gửi|ngày|ส่ง|"
            "saadetud|išsiųsta"
        ),
        "date",
    ),
    **dict.fromkeys(
        _phrases(
            "to|à|a|aan|an|til|till|vastaanottaja|кому|do|para|收件人|收件者|宛先|kime|"
            "címzett|받는 사람|komu|προς|إلى|אל|către|prima|до|kepada|đến|ถึง|kellele|kam"
        ),
        "to",
    ),
    **dict.fromkeys(
        _phrases(
            "subject|objet|onderwerp|oggetto|betreff|emne|ämne|aihe|тема|temat|"
            "asunto|assunto|主题|主旨|件名|konu|tárgy|제목|předmět|predmet|θέμα|"
            "الموضوع|נושא|subiect|perihal|chủ đề|เรื่อง|teema|tema"
        ),
        "subject",
    ),
    **dict.fromkeys(
        _phrases(
            "cc|bcc|copie à|copie|kopie|kopio|копия|копія|dw|kopia|抄送|副本|"
            "κοιν|참조|نسخة|עותק|másolat|bilgi"
        ),
        "cc",
    ),
}

#: Longest field name above, so a line's label is only looked up when it could match.
MAX_FIELD_LABEL: Final = max(len(label) for label in HEADER_FIELDS)

#: Lines that announce the quoted or forwarded message, once dashes around them are cut:
#: Outlook's "Original Message", Thunderbird's localised "Original Message" and
#: "Forwarded Message", Gmail's "Forwarded message", Samsung Email's "Original message".
SEPARATOR_PHRASES: Final = frozenset(
    _phrases(
        "reply message|mensaje original|message original|original message|"
        "välitetty viesti|forwarded message|mensagem original|"
        "mensaje reenviado|message d'origine|message d’origine|"
        "message transféré|oprindelig besked|original-nachricht|originalnachricht|"
        "originalmeddelande|исходное сообщение|alkuperäinen viesti|"
        "messaggio inoltrato|messaggio originale|opprinnelig melding|"
        "doorgestuurd bericht|mensagem encaminhada|oryginalna wiadomość|"
        "przekazana wiadomość|wiadomość oryginalna|oprindelig meddelelse|"
        "reply above this line|oorspronkelijk bericht|videresendt meddelelse|"
        "please type your reply above this line|type your reply above this line|"
        "do not reply below this line|do not write below this line|"
        "write above this line to post a reply|"
        "пересылаемое сообщение|ursprungligt meddelande|"
        "ursprüngliche nachricht|weitergeleitete nachricht|ursprüngliche mitteilung|"
        "vidarebefordrat meddelande|original appointment|"
        "treść oryginalnej wiadomości|původní zpráva|přeposlaná zpráva|pôvodná správa|"
        "preposlaná správa|eredeti üzenet|továbbított üzenet|початкове повідомлення|"
        "оригінальне повідомлення|переслане повідомлення|пересланий лист|"
        "özgün ileti|orijinal ileti|orijinal mesaj|iletilen ileti|"
        "αρχικό μήνυμα|προωθημένο μήνυμα|原始消息|原始邮件|原始郵件|转发的邮件|"
        "已转发邮件|已轉寄郵件|元のメッセージ|転送されたメッセージ|원본 메시지|"
        "전달된 메시지|الرسالة الأصلية|الرسالة الأصليَّة|رسالة معاد توجيهها|"
        "הודעה מקורית|הודעה שהועברה|mesajul original|mesaj redirecționat|"
        "mesaj transmis|izvorna poruka|proslijeđena poruka|оригинално писмо|"
        "препратено писмо|pesan asli|pesan terusan|thư gốc|thư chuyển tiếp|"
        "missatge original|missatge reenviat|mensaxe orixinal|algne kiri|"
        "originalus laiškas|izvirno sporočilo|opphavleg melding|videresendt melding|"
        "upprunalegur póstur|oarspronklik berjocht|jatorrizko mezua"
    )
)

#: Separator lines that need no dashes around them (Apple Mail's "Begin forwarded
#: message:" in its languages), compared without a space before the colon.
BARE_SEPARATORS: Final = frozenset(
    _phrases(
        "begin forwarded message:|début du message réexpédié:|"
        "anfang der weitergeleiteten nachricht:|inicio del mensaje reenviado:|"
        "inizio messaggio inoltrato:|begin doorgestuurd bericht:|"
        "vidarebefordrat brev:|videresendt meddelelse:|videresendt melding:|"
        "välitetty viesti alkaa:|początek przekazywanej wiadomości:|"
        "začátek přeposlané zprávy:|начало переадресованного сообщения:|"
        "початок листа, що пересилається:|転送されたメッセージ:|以下是转发的邮件:|"
        "전달된 메시지:|iletilen ileti başlangıcı:|έναρξη προωθημένου μηνύματος:|"
        "תחילת הודעה שהועברה:|بداية الرسالة المعاد توجيهها:|"
        "início da mensagem reencaminhada:|começo da mensagem encaminhada:|"
        "începutul mesajului redirecționat:|továbbított levél kezdete:"
    )
)

#: Signatures that mail apps append on their own ("Sent from my iPhone", "Get Outlook for
#: iOS", "Von meinem Samsung Galaxy Smartphone gesendet"), in the languages above.
#: Matched against the lower-cased start of a line.
DEVICE_SIGNATURE: Final = re.compile(
    r"(?:sent from|sent with|sent using|sent via|get outlook for"
    r"|envoyé (?:de|depuis|à partir de|avec)|gesendet (?:von|mit)|von meinem"
    r"|verzonden (?:vanaf|met|van)|verstuurd (?:vanaf|met|van)|inviato (?:da|dal)"
    r"|enviado (?:desde|do|de|a partir)|skickat från|sendt fra|lähetetty"
    r"|отправлено (?:с|из)|надіслано з|wysłane z|odesláno z|odoslané z|elküldve"
    r"|στάλθηκε από|أُرسلت من|أرسلت من|trimis de pe"
    r"|poslano s|изпратено от|dikirim dari|được gửi từ|تم الإرسال من)(?:\s|$|\W)"
    r"|从我的|發自我的|来自我的|发自我的|נשלח מ"
)

#: Device signatures written the other way round, compared with the end of the line:
#: Japanese "iPhoneから送信", Korean "iPhone에서 보냄", Turkish "iPhone'umdan gönderildi",
#: Hungarian "Samsung Galaxy okostelefonról küldve".
DEVICE_SIGNATURE_ENDINGS: Final = _phrases(
    "から送信|에서 보냄|dan gönderildi|den gönderildi|ról küldve|ről küldve"
)

#: Outlook's mobile apps sign in every language with a sentence naming the app and the
#: platform and a verb ("Outlook für Android herunterladen", "Obtenir Outlook pour iOS");
#: all three must be there, so "I use Outlook on Android." stays a sentence.
OUTLOOK_MOBILE: Final = re.compile(
    r"^(?=.{0,80}\boutlook\b)(?=.{0,80}(?:ios|android))(?=.{0,80}(?:\bget\b|herunterladen"
    r"|obtenir|obtener|obter|scarica|downloaden|hämta|\bhent\b|\bfå\b|hanki|pobierz|stáhnout"
    r"|letöltése|получить|отримати|edinin|λήψη|入手|获取|받기|الحصول|קבל|obțineți))"
)

#: A device signature is a short phrase; a longer line is a sentence that happens to
#: start the same way ("Sent from my desk, is much easier than my phone."). Only its
#: first sentence counts: K-9 adds "Please excuse my brevity." after the phrase.
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
        "mit freundlichen grüssen|best|best wishes|sincerely|yours sincerely|"
        "un saludo|saluti|groeten|mvh|hälsningar|s pozdravem|s pozdravom|"
        "з повагою|з найкращими побажаннями|saygılarımla|με εκτίμηση|φιλικά|"
        "よろしくお願いいたします|敬具|此致|祝好|此致敬礼|"
        "مع التحية|مع أطيب التحيات|בברכה|בכבוד רב|cu stimă|cu drag|üdvözlettel|"
        "lijep pozdrav|s poštovanjem|поздрави|salam|hormat saya|trân trọng"
    )
)

#: At most this many short lines may follow a closing for the block to count as signature.
MAX_VALEDICTION_TAIL_LINES: Final = 4
MAX_SIGNATURE_LINE_CHARS: Final = 60

#: Characters of a line that only draws a rule ("-----", "=====", "_____").
RULE_CHARS: Final = frozenset("-_=*~—–#")
