"""Reading Authentication-Results (RFC 8601): only a pass for the From domain, in the
topmost header, outside comments, counts."""

from __future__ import annotations

import pytest

from aliasdesk.mail.model import ParsedMail
from aliasdesk.services.authentication import passing_domains, sender_authenticated

SENDER = "alice@example.com"


def _mail(*results: str) -> ParsedMail:
    return ParsedMail(headers=tuple(("authentication-results", value) for value in results))


@pytest.mark.parametrize(
    "header",
    [
        "mx.example.com; dmarc=pass header.from=example.com",
        "mx.example.com; dmarc=pass",
        "mx.example.com; spf=fail smtp.mailfrom=example.com; dkim=pass header.d=example.com",
        "mx.example.com; spf=pass smtp.mailfrom=alice@example.com",
        "mx.example.com; dkim=pass (2048-bit key) header.d=example.com header.s=sel",
        'mx.example.com; DMARC=PASS header.from="example.com"',
        "mx.example.com 1; dkim=pass header.i=@example.com",
    ],
)
def test_a_pass_for_the_senders_domain_authenticates(header: str) -> None:
    assert sender_authenticated(_mail(header), SENDER)


@pytest.mark.parametrize(
    "header",
    [
        "mx.example.com; dmarc=fail header.from=example.com",
        "mx.example.com; dmarc=pass header.from=evil.example",
        "mx.example.com; dkim=pass header.d=evil.example",
        "mx.example.com; dkim=pass header.d=com",
        "mx.example.com; dkim=pass",
        "mx.example.com; none",
        "mx.example.com; spf=softfail (dmarc=pass header.from=example.com) smtp.mailfrom=x",
        "dmarc=pass header.from=example.com",
        "mx.example.com; dkim=pass header.d=notexample.com",
    ],
)
def test_anything_else_does_not(header: str) -> None:
    assert not sender_authenticated(_mail(header), SENDER)


def test_only_the_topmost_header_counts() -> None:
    forged_below = _mail(
        "mx.example.com; dmarc=fail header.from=example.com",
        "mx.example.com; dmarc=pass header.from=example.com",
    )
    assert not sender_authenticated(forged_below, SENDER)


def test_no_header_or_no_sender_is_not_authenticated() -> None:
    assert not sender_authenticated(ParsedMail(), SENDER)
    assert not sender_authenticated(_mail("mx.example.com; dmarc=pass"), "")


def test_a_subdomain_sender_aligns_with_its_organisation() -> None:
    mail = _mail("mx.example.com; dkim=pass header.d=example.com")
    assert sender_authenticated(mail, "alice@mail.example.com")


def test_passing_domains_lists_each_passing_method() -> None:
    header = (
        "mx.example.com; spf=pass smtp.mailfrom=bounce.example.net; "
        "dkim=fail header.d=x.example; dmarc=pass (p=reject) header.from=example.com"
    )
    assert passing_domains(header) == [("spf", "bounce.example.net"), ("dmarc", "example.com")]
