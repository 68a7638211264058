"""Reading Authentication-Results (RFC 8601): only our receiving server's header, and in it
only a DMARC pass for the From domain, with no other DMARC verdict beside it, counts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aliasdesk.mail.authentication_results import authserv_id, dmarc_passed, dmarc_results

OURS = "mx.example.com"
SENDER = "alice@example.com"


def _passed(*headers: str, sender: str = SENDER, trusted: str | None = OURS) -> bool:
    return dmarc_passed(list(headers), trusted, sender)


@pytest.mark.parametrize(
    "header",
    [
        "mx.example.com; dmarc=pass header.from=example.com",
        'MX.Example.COM; DMARC=PASS header.from="Example.com"',
        "mx.example.com 1; spf=pass smtp.mailfrom=example.com; dmarc=pass header.from=example.com",
        "mx.example.com (our MX); dmarc=pass (p=reject) header.from=example.com",
    ],
)
def test_our_servers_dmarc_pass_for_the_from_domain_counts(header: str) -> None:
    assert _passed(header)


@pytest.mark.parametrize(
    "header",
    [
        # another server's word, however it is spelled
        "mx.evil.example; dmarc=pass header.from=example.com",
        "mx.example.com.evil.example; dmarc=pass header.from=example.com",
        "example.com; dmarc=pass header.from=example.com",
        # DMARC failed, whatever else passed
        "mx.example.com; spf=pass smtp.mailfrom=example.com; dmarc=fail header.from=example.com",
        "mx.example.com; dkim=pass header.d=example.com; dmarc=fail header.from=example.com",
        "mx.example.com; dmarc=pass header.from=example.com; dmarc=fail header.from=example.com",
        # SPF and DKIM say nothing about From
        "mx.example.com; spf=pass smtp.mailfrom=alice@example.com",
        "mx.example.com; dkim=pass header.d=example.com",
        # a pass naming no domain, or another domain
        "mx.example.com; dmarc=pass",
        "mx.example.com; dmarc=pass header.from=evil.example",
        "mx.example.com; dmarc=pass header.from=sub.example.com",
        "mx.example.com; dmarc=pass header.from=com",
        # a pass written inside a comment
        "mx.example.com; dmarc=none (dmarc=pass header.from=example.com)",
        "mx.example.com; (dmarc=pass header.from=example.com)",
        # no authserv-id at all
        "dmarc=pass header.from=example.com",
        "; dmarc=pass header.from=example.com",
        "mx.example.com; none",
        "",
    ],
)
def test_anything_else_does_not(header: str) -> None:
    assert not _passed(header)


def test_the_topmost_header_of_our_server_decides() -> None:
    ours_failed = "mx.example.com; dmarc=fail header.from=example.com"
    forged_below = "mx.example.com; dmarc=pass header.from=example.com"
    assert not _passed(ours_failed, forged_below)
    foreign_on_top = "mx.evil.example; dmarc=fail header.from=example.com"
    assert _passed(foreign_on_top, forged_below)


def test_without_a_configured_server_or_a_sender_nothing_passes() -> None:
    header = "mx.example.com; dmarc=pass header.from=example.com"
    assert not _passed(header, trusted=None)
    assert not _passed(header, trusted="")
    assert not _passed(header, sender="")
    assert not _passed(header, sender="not-an-address")
    assert not _passed()


def test_reading_the_parts() -> None:
    assert authserv_id("  MX.example.com. 1 ; dmarc=pass") == "mx.example.com"
    assert authserv_id("(comment) mx.example.com; x") == "mx.example.com"
    assert dmarc_results("mx; dmarc=pass header.from=a.example; dmarc=fail") == [
        ("pass", "a.example"),
        ("fail", ""),
    ]


@given(st.text(max_size=300), st.text(max_size=40))
def test_any_header_text_is_read_without_error(header: str, sender: str) -> None:
    assert isinstance(_passed(header, sender=sender), bool)
