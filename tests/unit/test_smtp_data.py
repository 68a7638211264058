"""``wire_form``: the bytes DATA carries, the same as aiosmtplib's own two passes make."""

from __future__ import annotations

import pytest
from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings
from hypothesis import given
from hypothesis import strategies as st

from aliasdesk.notify.smtp_data import wire_form


def aiosmtplib_wire(message: bytes) -> bytes:
    """What ``SMTPProtocol.execute_data_command`` writes after the DATA command."""
    return PERIOD_REGEX.sub(b"..", normalize_message_line_endings(message)) + b".\r\n"


@pytest.mark.parametrize(
    "message",
    [
        b"",
        b".",
        b".\r\n",
        b"..\r\n",
        b"Subject: x\r\n\r\n.\r\n..\r\n.x\r\nend\r\n",
        b"Subject: x\r\n\r\nno line end at the end",
        b"Subject: x\r\n\r\nends in a dot.",
        b"\r\n.\r\n",
        b"a\r\n\r\n\r\n.",
    ],
)
def test_matches_aiosmtplib_for_crlf_mail(message: bytes) -> None:
    assert wire_form(message) == aiosmtplib_wire(message)


@pytest.mark.parametrize(
    "message", [b"a\nb\r\n", b"a\rb\r\n", b"a\r\n\n.b\r\n", b"a\r\r\n", b"a\r", b"\n"]
)
def test_lone_cr_or_lf_is_left_to_aiosmtplib(message: bytes) -> None:
    assert wire_form(message) is None


lines = st.lists(st.sampled_from([b"", b".", b"..", b".x", b"x.", b"From x", b" .", b"="]))


@given(lines, st.booleans())
def test_crlf_lines_of_dots_match_aiosmtplib(parts: list[bytes], ended: bool) -> None:
    message = b"\r\n".join(parts) + (b"\r\n" if ended else b"")
    assert wire_form(message) == aiosmtplib_wire(message)


@given(st.binary(max_size=200))
def test_any_bytes_match_or_are_left_to_aiosmtplib(message: bytes) -> None:
    wire = wire_form(message)
    assert wire is None or wire == aiosmtplib_wire(message)
    if wire is None:  # only mail with a lone CR or LF, which aiosmtplib rewrites
        assert normalize_message_line_endings(message) not in (message, message + b"\r\n")
