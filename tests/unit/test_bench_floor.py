"""The bench's honest floor sends what aliasdesk sends for the same mail (so the comparison is
of the same work), and the table shows aliasdesk against both floors and the import."""

from __future__ import annotations

import email
from email import policy
from email.parser import BytesParser

from bench.bare_loop import ROUTING, Owners, honest_mails
from bench.mailbox_gen import generate
from bench.report import table


def test_the_floor_acknowledges_what_aliasdesk_acknowledges_and_tells_an_owner() -> None:
    owners = Owners(ROUTING)
    parser = BytesParser(policy=policy.compat32)
    mails = generate(200, tag="floor")
    for number, mail in enumerate(mails):
        sent = honest_mails(parser.parsebytes(mail.raw), number, owners)
        acks = [data for _, _, data in sent if b"Auto-Submitted: auto-replied" in data]
        assert len(acks) == mail.acks, (mail.kind, len(acks))
        notices = [(to, data) for _, to, data in sent if b"auto-generated" in data]
        if mail.acks:  # a request: one owner per department, each a member, with the files
            assert len(notices) == mail.acks
            members = {m for _, ms in owners.by_alias.values() for m in ms}
            assert all(to in members for to, _ in notices)
        for _, _, data in sent:
            assert max(len(line) for line in data.split(b"\r\n")) <= 998
            parsed = email.message_from_bytes(data, policy=policy.default)
            assert parsed["Subject"] and not parsed.defects
    with_file = next(m for m in mails if b"Content-Disposition: attachment" in m.raw and m.acks)
    sent = honest_mails(parser.parsebytes(with_file.raw), 1, owners)
    notice = next(data for _, _, data in sent if b"auto-generated" in data)
    parts = email.message_from_bytes(notice, policy=policy.default).iter_attachments()
    assert [part.get_filename() for part in parts]


def test_the_table_shows_both_floors_and_the_import() -> None:
    result = {
        "mails": 500,
        "throughput_mails_per_s": {"sqlite+embedded (run)": 150.0},
        "bare_loop_mails_per_s": 200.0,
        "honest_floor_mails_per_s": 120.0,
        "honest_floor_mails_sent": 966,
        "django_helpdesk_mails_per_s": 30.0,
        "django_helpdesk_reason": "",
        "latency": None,
        "peak_rss_mb": {},
        "big_10k": {},
        "import": {
            "mails": 5000,
            "mails_per_s": 400.0,
            "mails_per_cpu_s": 800.0,
            "cpu_seconds": 6.3,
            "seconds": 12.5,
            "peak_rss_mb": 90.0,
        },
    }
    rows = {name: (value, target, verdict) for name, value, target, verdict in table(result)}
    assert rows["ratio aliasdesk/honest floor (sqlite)"] == ("1.25x", ">= 1x", "PASS")
    assert rows["ratio aliasdesk/old bare loop (sqlite)"] == ("0.75x", ">= 2x", "MISS")
    assert rows["import --no-mail, 5,000 mails (sqlite)"] == (
        "400.0 mails/s",
        ">= 1000 mails/s",
        "MISS",
    )
    assert rows["  peak RSS import"][2] == "PASS"
