"""The reply extractor on replies generated as mail clients write them, and its invariants.

tests/support/reply_clients.py builds each client's reply (client x language x quoting
style x posting style x signature) from the strings the clients use; every one must
give exactly its new text. The property tests then hold what must be true of any input:
text without quoting or history survives whole, the result only ever keeps lines of the
input in their order, and nothing makes the extractor raise.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aliasdesk.mail import reply as reply_module
from aliasdesk.mail.reply import extract_reply
from tests.support.reply_clients import ALL_LOCALES, GeneratedReply, generate, pass_rates

GENERATED = list(generate())

#: Characters the extractor removes because no reader sees them (see reply._INVISIBLE).
INVISIBLE = dict.fromkeys(
    [0x200B, 0x200E, 0x200F, 0x2060, 0xFEFF, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
)


def test_the_generated_set_is_large_and_covers_every_client_and_language() -> None:
    assert len(GENERATED) >= 1000
    assert len({reply.language for reply in GENERATED}) >= 20
    clients = {reply.client for reply in GENERATED}
    assert {"gmail", "apple-mail", "thunderbird", "k9", "samsung-email"} <= clients
    assert {"outlook-desktop", "outlook-web", "outlook-mobile"} <= clients
    assert {reply.posting for reply in GENERATED} == {"top", "bottom", "interleaved", "forward"}
    assert len({reply.test_id for reply in GENERATED}) == len(GENERATED)


@pytest.mark.parametrize("reply", GENERATED, ids=[reply.test_id for reply in GENERATED])
def test_generated_reply_gives_its_new_text(reply: GeneratedReply) -> None:
    assert extract_reply(reply.body) == reply.expected


def test_every_language_and_client_passes_in_full() -> None:
    rates = pass_rates(lambda reply: extract_reply(reply.body) == reply.expected)
    failing = {
        key: f"{hits}/{total}"
        for table in rates.values()
        for key, (hits, total) in table.items()
        if hits != total
    }
    assert not failing
    assert set(rates["language"]) == {locale.code for locale in ALL_LOCALES}


def test_interleaved_answers_keep_their_questions_and_drop_the_rest() -> None:
    interleaved = [reply for reply in GENERATED if reply.posting == "interleaved"]
    assert interleaved
    for reply in interleaved:
        result = extract_reply(reply.body)
        assert result.removeprefix("Dana,\n\n").startswith("> Hello,")
        assert "Dana Reyes" not in result  # the trailing quoted history and the header


# --- properties --------------------------------------------------------------------------

#: Prose in several scripts, never starting a line with ">" and free of the words and
#: marks that open history or signatures, so none of it may be removed.
PROSE_TEXT = (
    "the printer on floor three jams again since Monday please check it "
    "der Drucker klemmt wieder bitte prüfen imprimante bloquée merci "
    "принтер снова застрял пожалуйста 打印机又卡纸了 プリンターが詰まりました "
    "프린터가 또 걸렸어요 המדפסת נתקעה الطابعة عالقة 42 3.5 ok"
)
PROSE_WORDS = st.sampled_from(PROSE_TEXT.split(" "))
PROSE_LINE = st.lists(PROSE_WORDS, min_size=1, max_size=12).map(" ".join)
PROSE = st.lists(st.one_of(PROSE_LINE, st.just("")), min_size=1, max_size=20).map("\n".join)


@settings(max_examples=200, deadline=None)
@given(PROSE)
def test_text_without_quotes_or_history_survives_whole(text: str) -> None:
    expected = "\n".join(line.rstrip() for line in text.split("\n")).strip("\n")
    assert extract_reply(text) == expected


def _ordered_subset(result: str, text: str) -> bool:
    """True when every line of ``result`` is a line of ``text``, in the same order."""
    source = [
        line.translate(INVISIBLE).rstrip(" \t\u00a0\u200c\u200d\u1427")
        for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    ]
    position = 0
    for line in result.split("\n"):
        if not line:
            continue
        while position < len(source) and source[position] != line:
            position += 1
        if position == len(source):
            return False
        position += 1
    return True


MAIL_ALPHABET = st.sampled_from(
    [*"Onwrte:>-_ \n\r12@<>[]FromSentTo:|.,", "\u200b", "\u1427", "\u00a0", "mailto:"]
)
MAIL_PIECES = st.sampled_from(
    [
        "On Mon, 3 Mar 2025 at 09:14, Dana <dana@example.org> wrote:",
        "2025-03-03 9:14 GMT+01:00 Dana <dana@example.org>:",
        "pn, 3 бер. 2025 р. о 09:14 Dana <dana@example.org> пише:",
        "> quoted line",
        "> > deeper",
        "From: Dana <dana@example.org>",
        "Sent: Monday, March 3, 2025",
        "Subject: Laptop",
        "-----Original Message-----",
        "-- ",
        "Sent from my iPhone",
        "Best regards,",
        "The laptop arrived.",
        "",
    ]
)
MAIL_TEXT = st.one_of(
    st.lists(MAIL_ALPHABET, max_size=300).map("".join),
    st.lists(MAIL_PIECES, max_size=25).map("\n".join),
)


@settings(max_examples=400, deadline=None)
@given(MAIL_TEXT)
def test_result_keeps_only_input_lines_in_their_order(text: str) -> None:
    result = extract_reply(text)
    assert _ordered_subset(result, text)
    assert len(result) <= len(text)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=400), MAIL_TEXT))
def test_never_raises_on_any_text(text: str) -> None:
    assert isinstance(extract_reply(text), str)
    # extract_reply falls back to the whole text on an error; the rules themselves must
    # not need that fallback, so they are called directly as well.
    assert isinstance(reply_module._extract(text), str)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(GENERATED), st.sampled_from(["\r\n", "\n"]))
def test_generated_replies_do_not_depend_on_line_endings(
    reply: GeneratedReply, newline: str
) -> None:
    body = reply.body.replace("\r\n", "\n").replace("\n", newline)
    assert extract_reply(body) == reply.expected


@settings(max_examples=300, deadline=None)
@given(PROSE, st.lists(MAIL_PIECES, max_size=20).map("\n".join))
def test_new_text_above_anything_stays_the_prefix_of_the_result(prose: str, rest: str) -> None:
    new_text = extract_reply(prose)
    result = extract_reply(f"{prose}\n\n{rest}")
    assert result.startswith(new_text)
