"""Large mail on real IMAP servers (pymap and Dovecot): sizes known before any body is read,
batches cut by bytes as well as by count, and mail over the limit handed over as its header
alone, left unmarked in the folder and not handed over again."""

from __future__ import annotations

import pytest

from gateway.imap import FetchedMail, ImapMailbox
from gateway.poller import MailboxPoller
from tests.integration.test_poller import Recorder, mail, unflagged
from tests.support.servers import ImapTestServer, imap_config_for

PADDING = 100_000
LIMIT = 250_000


class KeepingRecorder(Recorder):
    """A Recorder that also keeps what it was handed."""

    def __init__(self) -> None:
        super().__init__()
        self.mails: list[FetchedMail] = []

    def __call__(self, mailbox: str, uidvalidity: int, mails: list[FetchedMail]) -> list[int]:
        self.mails.extend(mails)
        return super().__call__(mailbox, uidvalidity, mails)


def _poller(server: ImapTestServer, handler: Recorder) -> MailboxPoller:
    config = imap_config_for(server)
    return MailboxPoller(config, handler, poll_interval=1, max_mail_bytes=LIMIT)


def test_the_server_tells_sizes_and_gives_a_header_without_its_body(
    imap_server: ImapTestServer,
) -> None:
    raws = [mail(1), mail(2, PADDING)]
    imap_server.append_many(raws)
    with ImapMailbox(imap_config_for(imap_server)) as box:
        uids = box.uids_after(0)
        assert box.sizes([*uids, 999]) == dict(zip(uids, map(len, raws), strict=True))
        headers = box.fetch_headers(uids, 200)
    for uid, raw in zip(uids, raws, strict=True):
        assert raw.startswith(headers[uid]) and 0 < len(headers[uid]) <= 200
        assert b"Printer" not in headers[uid]


def test_batches_are_cut_by_bytes_as_well_as_by_count(imap_server: ImapTestServer) -> None:
    imap_server.append_many(mail(n, PADDING) for n in range(5))
    handler = KeepingRecorder()
    poller = _poller(imap_server, handler)
    try:
        assert poller.run_once() == 5
    finally:
        poller.close()
    batches = [uids for _, _, uids in handler.calls]
    assert [len(uids) for uids in batches] == [2, 2, 1]
    assert unflagged(imap_server) == []


def test_mail_over_the_limit_is_handed_over_as_its_header_and_left_in_the_folder(
    imap_server: ImapTestServer,
) -> None:
    big = mail(2, 3 * PADDING)
    imap_server.append_many([mail(1), big, mail(3)])
    handler = KeepingRecorder()
    poller = _poller(imap_server, handler)
    try:
        assert poller.run_once() == 3
        assert poller.run_once() == 0, "held mail is not handed over again"
    finally:
        poller.close()
    [held] = [m for m in handler.mails if m.held_size is not None]
    assert held.held_size == len(big)
    assert big.startswith(held.raw) and b"Printer" not in held.raw
    assert [m.raw for m in handler.mails if m.held_size is None] == [mail(1), mail(3)]
    assert unflagged(imap_server) == [held.uid]


@pytest.mark.parametrize("limit", [LIMIT - 1, LIMIT])
def test_a_mail_of_exactly_the_limit_is_taken_whole(
    dovecot_server: ImapTestServer, limit: int
) -> None:
    raw = mail(1, LIMIT - len(mail(1, 0)))
    assert len(raw) == LIMIT
    dovecot_server.append(raw)
    handler = KeepingRecorder()
    poller = MailboxPoller(
        imap_config_for(dovecot_server), handler, poll_interval=1, max_mail_bytes=limit
    )
    try:
        poller.run_once()
    finally:
        poller.close()
    [got] = handler.mails
    assert (got.held_size is None) == (limit == LIMIT)
