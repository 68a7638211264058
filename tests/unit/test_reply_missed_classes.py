"""The reply extractor on the kinds of mail that rule-based reply trimmers tend to miss.

Each test stands for a class, not an example: headers written date first or above
unquoted history, header verbs of languages beyond Western Europe, addresses turned into
mailto: links, invisible characters clients leave behind, forwards inside replies, and
device signatures written in other languages. The bodies are written for these tests.
"""

from __future__ import annotations

import pytest

from aliasdesk.mail.reply import drop_unseen_quotes, extract_reply

NEW_TEXT = "The laptop arrived, thank you.\nIt works fine now."


def reply_above(history: str) -> str:
    return f"{NEW_TEXT}\n\n{history}"


@pytest.mark.parametrize(
    "header",
    [
        "2025-03-03 17:21 GMT+01:00 Dana Reyes <dana@example.org>:",
        'On 3 Mar 2025 17:21, "Dana Reyes" <dana@example.org> wrote:',
        "пн, 3 бер. 2025 р. о 17:21 Dana Reyes <dana@example.org> пише:",
        "W dniu 3.03.2025 o 17:21, Dana Reyes pisze:",
        "Dana Reyes <dana@example.org> ezt írta (időpont: 2025. márc. 3., H, 17:21):",
        "Dana Reyes <dana@example.org>, 3 Mar 2025 Pzt, 17:21 tarihinde şunu yazdı:",
        "2025년 3월 3일 (월) 오후 5:21, Dana Reyes <dana@example.org>님이 작성:",
        "في 3 مارس 2025، الساعة 5:21 م، كتب Dana Reyes <dana@example.org>:",
        "\u202bבתאריך יום ב׳, 3 במרץ 2025 ב-17:21 מאת "
        "\u202aDana\u202c\u200f <dana@example.org>:\u202c",
        "Wiadomość napisana przez Dana <dana@example.org> w dniu 3 mar 2025, o godz. 17:21:",
        "On Mon, 3 Mar 2025 at 17:21, Dana <dana@example.org<mailto:dana@example.org>> wrote:",
        "3. 3. 2025 v 17:21, Dana Reyes <mailto:dana@example.org>:",
        "2025-03-03 17:21 GMT+01:00 Dana Reyes <\ndana@example.org>:",
        "Dana Reyes <dana@example.org> schrieb am Mo., 3. März 2025, 17:21:",
        "Dana Reyes <dana@example.org> wrote:",
        "Quoting Dana Reyes <dana@example.org>:",
        "##- Please type your reply above this line -##",
        "From: Dana\nSent: \u200eMonday\u200e, \u200eMarch\u200e \u200e3\u200e, \u200e2025\nTo: IT",
    ],
)
def test_header_above_unquoted_history_ends_the_reply(header: str) -> None:
    body = reply_above(f"{header}\n\nHas the laptop arrived?\nDana\n")
    assert extract_reply(body) == NEW_TEXT


def test_header_wrapped_before_the_address_goes_whole() -> None:
    body = reply_above("pon., 3 mar 2025 o 09:14 Dana Reyes\n<dana@example.org> napisał(a):\n> Hi")
    assert extract_reply(body) == NEW_TEXT


@pytest.mark.parametrize(
    "debris", ["\u200b", "\u00a0", "\u200b\u200d", "\n\u1427", "\n\u00a0\n\u1427\n"]
)
def test_invisible_characters_at_the_end_are_dropped(debris: str) -> None:
    assert extract_reply(f"{NEW_TEXT}{debris}") == NEW_TEXT


def test_invisible_characters_inside_a_header_do_not_hide_it() -> None:
    body = reply_above(
        "On Mon, 3 Mar 2025 at 09:14,\u200b Dana\u200f <dana@example.org> wrote:\n> Hi"
    )
    assert extract_reply(body) == NEW_TEXT


def test_forward_inside_a_reply_keeps_the_writers_words() -> None:
    body = (
        "Please see the vendor's answer below, the part ships on Friday.\n\n"
        "---------- Forwarded message ---------\nFrom: Vendor <sales@vendor.example>\n"
        "Date: Mon, 3 Mar 2025 at 09:14\nSubject: Part\nTo: <it@example.com>\n\nShips Friday.\n"
    )
    assert extract_reply(body) == "Please see the vendor's answer below, the part ships on Friday."


@pytest.mark.parametrize(
    "line",
    [
        "Outlook für Android<https://aka.ms/ghei36> herunterladen",
        "iPhoneから送信",
        "iPhone에서 보냄",
        "从我的iPhone发送",
        "נשלח מה-iPhone שלי",
        "Sent from my Android device with K-9 Mail. Please excuse my brevity.",
    ],
)
def test_device_signature_in_other_languages(line: str) -> None:
    assert extract_reply(f"{NEW_TEXT}\n\n{line}") == NEW_TEXT


def test_sentence_naming_outlook_on_a_phone_is_kept() -> None:
    body = "I use Outlook on Android.\nThe calendar does not sync."
    assert extract_reply(body) == body


# --- quoted lines that may be shown again ------------------------------------------------


def test_unseen_quoted_lines_are_dropped_and_seen_ones_kept() -> None:
    text = (
        "> Handover: he has asked three times\n>\n> Which form do I need?\n\n"
        "Use form L-1.\n\n> Is it urgent?\n\nNo."
    )
    seen = "Hello,\n\nWhich form   do I need?\nDave"
    assert drop_unseen_quotes(text, seen) == "> Which form do I need?\n\nUse form L-1.\n\nNo."


def test_text_without_quotes_is_left_alone() -> None:
    assert drop_unseen_quotes("a\n\n\nb", "") == "a\n\n\nb"


def test_a_requote_rewrapped_by_the_client_still_counts_as_seen() -> None:
    text = "> Which form\n> do I need?\n\nL-1."
    assert drop_unseen_quotes(text, "Which form do I need?") == text
