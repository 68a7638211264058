"""Focused cases for the reply extractor: one per header style, client and signature.

The bodies are written for these tests (not taken from the corpus) so that each one shows
a single rule; the corpus tests in tests/corpus measure the rules together on real mail.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aliasdesk.mail.reply import extract_reply

NEW_TEXT = "The laptop arrived, thank you.\nIt works fine now."


def reply_above(history: str) -> str:
    return f"{NEW_TEXT}\n\n{history}"


# --- empty and trivial input ---------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "\n\n", "\r\n \t\r\n"])
def test_empty_input_gives_empty_reply(text: str) -> None:
    assert extract_reply(text) == ""


def test_plain_reply_without_history_is_kept_whole() -> None:
    assert extract_reply(NEW_TEXT) == NEW_TEXT


def test_line_endings_and_trailing_spaces_are_normalised() -> None:
    assert extract_reply("First line   \r\nSecond line\r\n\r\n") == "First line\nSecond line"


def test_reply_that_is_only_a_quote_keeps_the_quote() -> None:
    assert extract_reply("> earlier text\n> more earlier text\n") == (
        "> earlier text\n> more earlier text"
    )


def test_reply_that_is_only_a_header_and_a_quote_keeps_the_quote() -> None:
    body = "On Mon, 3 Feb 2025 at 09:14, Dana <dana@example.org> wrote:\n\n> Is it fixed?\n"
    assert extract_reply(body) == "> Is it fixed?"


# --- attribution headers, one per language ----------------------------------------------

HEADERS = {
    "gmail": "On Mon, 3 Feb 2025 at 09:14, Dana Reyes <dana@example.org> wrote:",
    "apple": "On 3 Feb 2025, at 09:14, Dana Reyes <dana@example.org> wrote:",
    "no colon": "On Mon, 3 Feb 2025 09:14:00 +0100 Dana Reyes <dana@example.org> wrote",
    "zoho": "---- On Mon, 03 Feb 2025 09:14:00 +0100 dana@example.org wrote ----",
    "yahoo": "--- On Mon, 2/3/25, Dana Reyes <dana@example.org> wrote:",
    "german": "Am 03.02.2025 um 09:14 schrieb Dana Reyes <dana@example.org>:",
    "french": "Le lun. 3 févr. 2025 à 09:14, Dana Reyes <dana@example.org> a écrit :",
    "spanish": "El lun, 3 feb 2025 a las 09:14, Dana Reyes (<dana@example.org>) escribió:",
    "dutch": "Op ma 3 feb. 2025 om 09:14 schreef Dana Reyes <dana@example.org>:",
    "italian": "Il giorno lun 3 feb 2025 alle ore 09:14 Dana Reyes <dana@example.org> ha scritto:",
    "portuguese": "Em seg., 3 de fev. de 2025 às 09:14, Dana Reyes <dana@example.org> escreveu:",
    "swedish": "Den mån 3 feb. 2025 kl 09:14 skrev Dana Reyes <dana@example.org>:",
    "danish": "Den 3. feb. 2025 kl. 09.14 skrev Dana Reyes <dana@example.org>:",
    "norwegian": "man. 3. feb. 2025 kl. 09:14 skrev Dana Reyes <dana@example.org>:",
    "finnish": "ma 3. helmik. 2025 klo 9.14 Dana Reyes <dana@example.org> kirjoitti:",
    "russian": "пн, 3 февр. 2025 г. в 09:14, Дана Рейес <dana@example.org>:",
    "russian pishet": "03.02.2025 09:14, Дана Рейес пишет:",
    "russian napisal": "03.02.2025 09:14 пользователь Дана <dana@example.org> написал:",
    "polish": "W dniu 3.02.2025 o 09:14 Dana Reyes <dana@example.org> pisze:",
    "polish napisal": "pon., 3 lut 2025 o 09:14 Dana Reyes <dana@example.org> napisał(a):",
    "japanese": "2025年2月3日(月) 9:14 Dana Reyes <dana@example.org>:",
    "chinese": "Dana Reyes <dana@example.org> 于2025年2月3日周一 09:14写道：",
    "hungarian": "2025. febr. 3., 9:14 keltezéssel Dana Reyes <dana@example.org> írta:",
    "date first": "2025-02-03 9:14 GMT+01:00 Dana Reyes <dana@example.org>:",
}


@pytest.mark.parametrize("header", HEADERS.values(), ids=HEADERS.keys())
def test_attribution_header_starts_quoted_history(header: str) -> None:
    body = reply_above(f"{header}\n\n> Has the laptop arrived?\n> Dana\n")
    assert extract_reply(body) == NEW_TEXT


@pytest.mark.parametrize("header", HEADERS.values(), ids=HEADERS.keys())
def test_attribution_header_with_unquoted_history(header: str) -> None:
    body = reply_above(f"{header}\n\nHas the laptop arrived?\nDana\n")
    assert extract_reply(body) == NEW_TEXT


def test_header_wrapped_over_two_lines() -> None:
    body = reply_above(
        "On Mon, Feb 3, 2025 at 9:14 AM IT Support <\n"
        "it-support@example.com> wrote:\n\n> Ticket IT-7"
    )
    assert extract_reply(body) == NEW_TEXT


def test_header_wrapped_over_three_lines() -> None:
    body = reply_above("On Feb 3, 2025, at 9:14 AM, Dana Reyes\n<dana@example.org>\nwrote:\n\n> Hi")
    assert extract_reply(body) == NEW_TEXT


def test_header_split_before_the_time() -> None:
    body = reply_above("On Feb 3, 2025,\nat 09:14,\nDana Reyes <dana@example.org> wrote:\n\n> Hi")
    assert extract_reply(body) == NEW_TEXT


def test_gmail_wrap_that_leaves_the_closing_bracket_quoted() -> None:
    body = reply_above("ma. 3. feb. 2025 kl. 09:14 skrev Dana <dana@example.org\n>:\n\n> Hi")
    assert extract_reply(body) == NEW_TEXT


def test_header_directly_below_the_reply_keeps_the_reply() -> None:
    body = "Thanks!\nOn Mon, Feb 3, 2025 at 9:14 AM, Dana <dana@example.org> wrote:\n> Hi"
    assert extract_reply(body) == "Thanks!"


def test_short_attribution_without_date_above_a_quote() -> None:
    assert extract_reply("Agreed.\n\nDana Reyes wrote:\n> Shall we order two?") == "Agreed."


# --- text that only resembles a header -------------------------------------------------


def test_lines_starting_with_on_are_reply_text() -> None:
    body = "On Monday the printer broke again.\n\nOn the other hand, the scanner works."
    assert extract_reply(body) == body


def test_one_is_not_on() -> None:
    body = "One more question: which floor?\n\nOn Feb 3, 2025, at 9:14, Dana wrote:\n\n> Hi"
    assert extract_reply(body) == "One more question: which floor?"


def test_wrote_inside_a_sentence_is_reply_text() -> None:
    body = 'The vendor wrote: "fixed in 2.1". See https://example.com/who-wrote:this'
    assert extract_reply(body) == body


def test_sentence_ending_in_colon_is_reply_text() -> None:
    body = "On your laptop you can run:\n\n    ipconfig /renew\n\nThat should help."
    assert extract_reply(body) == body


# --- Outlook blocks and separators ----------------------------------------------------

BLOCKS = {
    "english": "From: Dana Reyes <dana@example.org>\nSent: Monday, February 3, 2025 9:14 AM\n"
    "To: IT Support <it@example.com>\nSubject: Laptop",
    "bold": "*From:* Dana Reyes [mailto:dana@example.org]\n*Sent:* Monday, February 3, 2025\n"
    "*To:* it@example.com\n*Subject:* Laptop",
    "german": "Von: Dana Reyes <dana@example.org>\nGesendet: Montag, 3. Februar 2025 09:14\n"
    "An: IT <it@example.com>\nBetreff: Laptop",
    "french": "De : Dana Reyes <dana@example.org>\nEnvoyé : lundi 3 février 2025 09:14\n"
    "À : IT <it@example.com>\nObjet : Laptop",
    "dutch": "Van: Dana Reyes <dana@example.org>\nVerzonden: maandag 3 februari 2025 09:14\n"
    "Aan: IT\nOnderwerp: Laptop",
    "italian": "Da: Dana Reyes <dana@example.org>\nInviato: lunedì 3 febbraio 2025 09:14\n"
    "A: IT\nOggetto: Laptop",
    "spanish": "De: Dana Reyes <dana@example.org>\nEnviado: lunes, 3 de febrero de 2025 9:14\n"
    "Para: IT\nAsunto: Laptop",
    "swedish": "Från: Dana Reyes <dana@example.org>\nSkickat: den 3 februari 2025 09:14\n"
    "Till: IT\nÄmne: Laptop",
    "russian": "От: Dana Reyes <dana@example.org>\nОтправлено: 3 февраля 2025 г. 9:14\n"
    "Кому: IT\nТема: Laptop",
    "polish": "Od: Dana Reyes <dana@example.org>\nWysłano: poniedziałek, 3 lutego 2025 09:14\n"
    "Do: IT\nTemat: Laptop",
    "wrapped sender": "From: Human Resources\n<very-long-automated-sender@example.org>\n"
    "Sent: Monday, February 3, 2025 9:14 AM\nTo: Dana",
    "original message": "-----Original Message-----\nFrom: dana@example.org\nSubject: Laptop",
    "spaced original": "----- Original Message -----\nHas the laptop arrived?",
    "german original": "-----Ursprüngliche Nachricht-----\nHas the laptop arrived?",
    "forwarded": "---------- Forwarded message ---------\nFrom: Dana <dana@example.org>",
    "apple forward": "Begin forwarded message:\n\nFrom: Dana <dana@example.org>",
    "underscore rule": "________________________________\nHas the laptop arrived?",
}


@pytest.mark.parametrize("block", BLOCKS.values(), ids=BLOCKS.keys())
def test_header_block_or_separator_starts_history(block: str) -> None:
    body = reply_above(f"{block}\n\nHas the laptop arrived?\nDana")
    assert extract_reply(body) == NEW_TEXT


def test_single_field_line_is_reply_text() -> None:
    body = "To: everyone on the third floor\n\nThe kitchen is closed today."
    assert extract_reply(body) == body


def test_separator_rule_left_above_a_block_is_dropped() -> None:
    body = reply_above(" ------------------------------\n\n" + BLOCKS["bold"])
    assert extract_reply(body) == NEW_TEXT


# --- top posting, bottom posting, inline answers --------------------------------------


def test_bottom_posting_keeps_the_reply_below_the_quote() -> None:
    body = "On 03/02/2025 09:14, Dana Reyes wrote:\n> Has the laptop arrived?\nYes, this morning."
    assert extract_reply(body) == "Yes, this morning."


def test_inline_answers_keep_the_quoted_lines_they_answer() -> None:
    body = (
        "On Feb 3, 2025, at 9:14, Dana <dana@example.org> wrote:\n"
        "> Which model?\n\nThe 14 inch one.\n\n> Which colour?\n\nGrey.\n\n"
        "> Thanks,\n> Dana\n"
    )
    assert extract_reply(body) == "> Which model?\n\nThe 14 inch one.\n\n> Which colour?\n\nGrey."


def test_one_answer_written_into_the_quote_keeps_the_line_it_answers() -> None:
    body = (
        "On Feb 3, 2025, at 9:14, Dana <dana@example.org> wrote:\n"
        "> Which model?\n\nThe 14 inch one.\n\n> The rest of my mail.\n> Dana\n"
    )
    assert extract_reply(body) == "> Which model?\n\nThe 14 inch one."


def test_text_above_and_below_a_quote_keeps_the_quote_between() -> None:
    body = "Hi,\nOn Feb 3, 2025, Dana <dana@example.org> wrote:\n> Which model?\n\nThe grey one."
    assert extract_reply(body) == "Hi,\n> Which model?\n\nThe grey one."


def test_quote_after_a_lead_in_is_kept_with_its_answer() -> None:
    body = "Answers below:\n\n> Which model?\n\nThe grey one.\n\n> Old history\n> more"
    assert extract_reply(body) == "Answers below:\n\n> Which model?\n\nThe grey one."


def test_two_answered_quotes_after_text_are_kept() -> None:
    body = "See below.\n\n> Which model?\n\nThe grey one.\n\n> Which colour?\n\nGrey."
    assert extract_reply(body) == body


def test_history_between_a_top_posted_reply_and_a_footer_goes() -> None:
    body = (
        "The laptop is on its way.\n\nOn Feb 3, 2025, Dana <dana@example.org> wrote:\n"
        "> Where is my laptop?\n\nThis mail is confidential."
    )
    assert extract_reply(body) == "The laptop is on its way.\n\nThis mail is confidential."


def test_top_posting_drops_the_quote_below() -> None:
    body = "The grey one.\n\n> Which model?\n> Which colour?"
    assert extract_reply(body) == "The grey one."


def test_quoted_line_rewrapped_without_marker_stays_in_the_quote() -> None:
    body = (
        "Done.\n\nOn Feb 3, 2025, Dana <dana@example.org> wrote:\n"
        "> A long quoted line that the client broke in the mid\ndle of a word\n> and more.\n"
    )
    assert extract_reply(body) == "Done."


# --- signatures -------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", ["-- ", "--"])
def test_signature_delimiter(delimiter: str) -> None:
    assert extract_reply(f"{NEW_TEXT}\n{delimiter}\nDana Reyes\nFacilities") == NEW_TEXT


def test_double_dash_inside_a_line_is_not_a_signature() -> None:
    body = "Use the side door -- the main one is locked.\n-- first item\n-- second item"
    assert extract_reply(body) == body


@pytest.mark.parametrize(
    "line",
    [
        "Sent from my iPhone",
        "Sent from my Verizon Wireless BlackBerry",
        "Sent from Outlook for Android<https://aka.ms/ghei36>",
        "Get Outlook for iOS<https://aka.ms/o0ukef>",
        "Envoyé de mon iPhone",
        "Gesendet von Outlook für Android",
        "Von meinem iPhone gesendet",
        "Inviato da iPhone",
        "Enviado desde mi iPhone",
        "Skickat från min iPhone",
    ],
)
def test_device_signature(line: str) -> None:
    assert extract_reply(f"{NEW_TEXT}\n\n{line}") == NEW_TEXT


def test_device_signature_ends_the_reply_even_with_history_after_it() -> None:
    body = f"{NEW_TEXT}\n\nSent from my iPhone\n\nHas the laptop arrived?"
    assert extract_reply(body) == NEW_TEXT


def test_sentence_starting_like_a_device_signature_is_kept() -> None:
    body = "Here it is.\n\nSent from my desk, which is much easier than from my phone."
    assert extract_reply(body) == body


def test_sent_from_in_the_middle_of_a_line_is_kept() -> None:
    body = "The alert was sent from my iPhone app to all users."
    assert extract_reply(body) == body


@pytest.mark.parametrize(
    "closing", ["Regards,", "Best regards,", "Kind regards", "Mit freundlichen Grüßen"]
)
def test_trailing_closing_block_is_a_signature(closing: str) -> None:
    body = f"{NEW_TEXT}\n\n{closing}\n\nDana Reyes\nFacilities Manager"
    assert extract_reply(body) == NEW_TEXT


def test_thanks_and_name_are_kept() -> None:
    body = "The room is booked.\n\nThanks,\nDana"
    assert extract_reply(body) == body


def test_regards_inside_a_sentence_is_kept() -> None:
    body = "With regards to the invoice, it is paid."
    assert extract_reply(body) == body


def test_closing_alone_is_not_removed() -> None:
    assert extract_reply("Regards,\nDana") == "Regards,\nDana"


def test_dash_name_signature() -> None:
    assert extract_reply(f"{NEW_TEXT}\n\n-Dana Reyes") == NEW_TEXT


def test_dash_bullet_is_not_a_dash_name_signature() -> None:
    body = "Shopping list:\n\n- Milk"
    assert extract_reply(body) == body


def test_em_dash_line_is_not_a_signature_delimiter() -> None:
    body = "🎉\n\n—\nDana Reyes\nFacilities"
    assert extract_reply(body) == body


def test_mailing_list_footer_is_dropped() -> None:
    body = f"{NEW_TEXT}\n\n_______________________________________________\nstaff mailing list"
    assert extract_reply(body) == NEW_TEXT


# --- robustness -----------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("On wrote:>-_\n\r 12@<>Fromt:Sen")), max_size=300))
def test_never_raises_and_never_grows(text: str) -> None:
    reply = extract_reply(text)
    assert isinstance(reply, str)
    assert len(reply) <= len(text)


def test_non_string_input_gives_empty_reply() -> None:
    assert extract_reply(None) == ""  # type: ignore[arg-type]
