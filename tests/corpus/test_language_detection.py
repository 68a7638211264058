"""How often the detector picks the language a person would answer in, on the corpus'
mails in many languages (German, English, French, Spanish, Afrikaans, Czech, Greek,
Arabic, Persian, Chinese, Japanese, Latin and too-short ones), labelled by hand in
``language_labels.tsv``. The text is what a ticket's language is chosen from: the
subject and the request's new text. A mail in a language aliasdesk does not write, or
too short to tell, must come back as "don't know", so the department's default decides.
"""

from __future__ import annotations

from pathlib import Path

from aliasdesk.mail.parse import parse_mail
from aliasdesk.mail.reply import extract_reply
from aliasdesk.services.languages import detect_language
from tests.support.corpus import CORPUS, require_corpus

require_corpus()

LABELS = Path(__file__).with_name("language_labels.tsv")
MIN_ACCURACY = 0.9


def labelled() -> list[tuple[str, str | None]]:
    rows = []
    for line in LABELS.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            path, expected = line.split("\t")
            rows.append((path, None if expected == "-" else expected))
    return rows


def detected(path: str) -> str | None:
    mail = parse_mail((CORPUS / path).read_bytes())
    return detect_language(f"{mail.subject}\n{extract_reply(mail.text) or mail.text}")


def test_the_detector_picks_the_readers_language() -> None:
    rows = labelled()
    assert len(rows) >= 70
    wrong = [(path, want, got) for path, want in rows if (got := detected(path)) != want]
    accuracy = 1 - len(wrong) / len(rows)
    print(f"language detection: {accuracy:.1%} of {len(rows)} labelled mails; wrong: {wrong}")
    assert accuracy >= MIN_ACCURACY, wrong
    # Never a wrong language: a miss may only fall back to the department's default.
    assert [(path, want, got) for path, want, got in wrong if got is not None] == []


def test_too_few_letters_is_decided_as_counting_them_would() -> None:
    """The start-up check of a text's letters stops at the fortieth; on every kind of text
    (letters, digits, underscores, punctuation, accents, other scripts, long runs of
    non-letters) it must decide exactly as counting all of them does."""
    import random
    import re

    from aliasdesk.services import language_detection as languages

    letter = re.compile(r"[^\W\d_]")
    pieces = ["a", "é", "ß", "я", "漢", "1", "_", " ", "\n", "!", "-", "٣", "  \t", "x" * 7]
    chooser = random.Random(20261206)
    texts = ["", "Thanks!", "a" * 39, "a" * 40, "1" * 5000 + "a" * 40, "a " * 39 + "_" * 9000]
    for _ in range(400):
        texts.append("".join(chooser.choice(pieces) for _ in range(chooser.randint(0, 120))))
    for text in texts:
        head = text[: languages.TEXT_READ]
        counted = len(letter.findall(head)) >= languages.MIN_LETTERS
        assert (languages._ENOUGH_LETTERS.match(head) is not None) == counted, repr(text[:80])
    assert languages.detect_language("1" * 5000 + "Dies ist ein deutscher Satz " * 5) is None
