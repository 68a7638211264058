"""``aliasdesk import``: old mail from an mbox, a Maildir or a folder of .eml files, through
the same pipeline as live mail. This module stores and processes; the command
(aliasdesk.cli.importing) draws the progress, prints the summary and runs the jobs.

Safe to run twice: a mail whose bytes were imported from the same source before is skipped,
and the pipeline's dedupe turns the same mail from another archive into a logged duplicate.
Mail is processed oldest first by its Date header, not in file order: a Maildir has no
order at all and exported folders rarely keep one, and a follow-up processed before its
request would open a ticket of its own instead of joining the request's.

Archives can be large, so only a date, a size and a digest per mail stay in memory, in
arrays (``Survey``); the bytes are read again, batch by batch, when the mail is processed.
A helper process parses each batch and classifies its languages a batch or two ahead of
the writer, on the second core (aliasdesk.services.import_ahead); without it, the same
work is done here.
"""

from __future__ import annotations

import mailbox
import re
from array import array
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.utils import parsedate_to_datetime
from functools import partial
from pathlib import Path

from sqlalchemy import select

from aliasdesk.db.models import InboundMail
from aliasdesk.db.session import Database
from aliasdesk.domain.organisation import RoutingConfig
from aliasdesk.inbound.context import PipelineSettings
from aliasdesk.mail.model import ParsedMail
from aliasdesk.services.import_ahead import Pending, ReadAhead
from aliasdesk.services.intake import (
    RawMail,
    parsed_ahead,
    process_pending,
    store_raw,
)
from aliasdesk.services.intake_store import (
    DIGEST_BYTES,
    content_digest,
    cut_batches,
    header_of,
    too_large,
)
from aliasdesk.services.mbox_reader import open_mbox

BATCH = 200
"""Mails stored, then processed, together (the intake takes them in its own batches).
With the helper process, 200 took a tenth less of the importer's CPU than 50 did: fewer
commits and fewer queries per mail."""
AHEAD = 2
"""Batches given to the helper process beyond the one being written: it reads the next
two while the writer works, and three batches' bytes are held at a time. With one, a
batch whose mails took the helper longer than the writer took over the batch before left
parts for the writer to parse itself, and the writer is the busier process: 100,000 mails
took 94-97 s against 101-103 s with one (two pairs), for 5 MB more at the peak."""
MAIL_SUFFIXES = {".eml"}
"""A folder may hold notes and exports of other kinds next to the mail: only .eml files are
mail (RFC 5322 text); Outlook's .msg is a binary format and would only be quarantined."""


@dataclass(frozen=True, slots=True)
class _Entry:
    """One mail of the source, made for the batch it is read in: where to read it again and
    the digest of its bytes."""

    digest: str
    size: int
    load: Callable[[], bytes]


@contextmanager
def open_source(path: Path) -> Iterator[Sequence[Callable[[], bytes]]]:
    """Readers for each mail in ``path``: a Maildir (cur/new/tmp), a folder of .eml, or an
    mbox. They read only inside the context: an mbox is held open until it ends."""
    if path.is_dir() and (path / "cur").is_dir():
        maildir = mailbox.Maildir(str(path), factory=None, create=False)
        yield [partial(maildir.get_bytes, key) for key in sorted(maildir.keys())]
    elif path.is_dir():
        files = sorted(
            p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in MAIL_SUFFIXES
        )
        yield [file.read_bytes for file in files]
    elif path.is_file():
        with open_mbox(path) as readers:
            yield readers
    else:
        raise FileNotFoundError(f"{path}: no such mbox, Maildir or folder")


_HEADER_END = re.compile(rb"\r?\n\r?\n")
_DATE_FIELD = re.compile(rb"^date:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)
"""The first Date field of a header block, with its folded lines: what the stdlib's header
parser finds there, without parsing every other field (that was most of the survey's time)."""
_ODD_LINE = re.compile(rb"\r(?!\n)|^(?!From |[\x21-\x39\x3b-\x7e]*:|[ \t])", re.MULTILINE)
"""A line end the pattern above does not see (a lone CR), or a line that is neither a field
nor a folded one, where the stdlib stops reading fields: such a block is parsed as before."""


def _written_at(raw: bytes) -> float:
    """The Date header as a timestamp; mail without a usable one sorts after all others."""
    head = _HEADER_END.split(raw, maxsplit=1)[0]  # decoding whole bodies cost more than this
    try:
        if _ODD_LINE.search(head):
            date = BytesHeaderParser().parsebytes(head).get("Date")
            value = str(date) if date else None
        else:
            field = _DATE_FIELD.search(head)
            value = field.group(1).decode("ascii", "surrogateescape") if field else None
        return parsedate_to_datetime(value).timestamp() if value else float("inf")
    except (TypeError, ValueError, IndexError, OverflowError):
        return float("inf")


class Survey:
    """Each mail's Date, size and digest, and the order mail is processed in, kept for the
    whole import in arrays: 48 bytes a mail, where an object for each took about 316 (the
    digest as hex text alone 113), 27 MB more for an archive of 100,000."""

    def __init__(self, readers: Sequence[Callable[[], bytes]]) -> None:
        self.readers = readers
        written = array("d")
        self.sizes = array("q")
        self._digests = bytearray()
        for load in readers:
            raw = load()
            written.append(_written_at(raw))
            self.sizes.append(len(raw))
            self._digests += content_digest(raw)
        # A stable sort: mails written at the same moment (or with no date) keep file order.
        self.order = array("q", sorted(range(len(readers)), key=written.__getitem__))

    def __len__(self) -> int:
        return len(self.order)

    def digest(self, position: int) -> str:
        """The mail's content hash (``content_hash``): SHA-256 of its bytes, in hex."""
        return self._digests[position * DIGEST_BYTES : (position + 1) * DIGEST_BYTES].hex()

    def entry(self, position: int) -> _Entry:
        return _Entry(self.digest(position), self.sizes[position], self.readers[position])


@dataclass(frozen=True)
class ImportResult:
    """What an import did: mails in the source, mails new to it, and each new mail's
    pipeline outcome counted."""

    total: int
    fresh: int
    outcomes: dict[str, int]
    languages: dict[int, str | None] = field(default_factory=dict, compare=False, repr=False)
    """The opening texts the helper process classified, by text key, for the owner
    assignments that follow (``JobRunner.known_languages``); what was handed on batch by
    batch (``after_batch``) is not kept here."""


Progress = Callable[[int, int], None]
"""Called as ``progress(done, total)`` after each batch; the command draws it, this
module never prints."""
AfterBatch = Callable[[Mapping[int, str | None]], None]
"""Called after each batch is processed with the texts the helper classified for it (by
text key): the command runs the batch's owner assignments there, while the helper reads
the next batch. The classifications are let go after the call."""


def import_mail(
    db: Database,
    routing: Callable[[], RoutingConfig],
    pipeline: PipelineSettings,
    path: Path,
    *,
    send_mail: bool,
    max_mail_bytes: int,
    progress: Progress,
    read_ahead: bool = True,
    after_batch: AfterBatch | None = None,
) -> ImportResult:
    """Import every mail of ``path`` not imported from it before. Raises ``OSError`` or
    ``mailbox.Error`` when the source cannot be read, before anything is stored. An mbox
    is closed when this returns or raises.

    With ``read_ahead`` a helper process starts first, so that it is ready when the
    survey ends; without, everything runs in this process. Without ``after_batch`` the
    helper's classifications are kept for the result, one per new ticket."""
    helper = ReadAhead(pipeline.max_attachment_bytes)
    if read_ahead:
        helper.start()
    try:
        with open_source(path) as readers:
            survey = Survey(readers)
            source = f"import:{path.resolve()}"
            fresh = _not_imported_before(db, source, survey)
            batches = _Batches(
                db, routing, pipeline, source, send_mail, max_mail_bytes, helper, after_batch
            )
            outcomes = batches.run(survey, fresh, progress)
    finally:
        helper.close()
    return ImportResult(len(survey), len(fresh), outcomes, helper.languages)


def _not_imported_before(db: Database, source: str, survey: Survey) -> array[int]:
    """The positions of the mails still to import, in the order they are processed."""
    with db.reader() as session:
        known = set(
            session.scalars(select(InboundMail.content_hash).where(InboundMail.mailbox == source))
        )
    if not known:
        return survey.order
    return array("q", (at for at in survey.order if survey.digest(at) not in known))


@dataclass(frozen=True)
class _Batches:
    """Where and how the fresh mails are stored and run through the pipeline."""

    db: Database
    routing: Callable[[], RoutingConfig]
    pipeline: PipelineSettings
    source: str
    send_mail: bool
    limit: int
    helper: ReadAhead
    after_batch: AfterBatch | None

    def run(self, survey: Survey, fresh: array[int], progress: Progress) -> dict[str, int]:
        outcomes: dict[str, int] = {}
        # An import killed between storing a batch and processing it left that batch
        # ``received``; it is taken in first, as it sorts before everything still to come.
        self._process(outcomes, {})
        done = 0
        for mails, pending in self._read(survey, fresh):
            store_raw(
                self.db,
                source="import",
                mailbox=self.source,
                uidvalidity=None,
                mails=mails,
                send_mail=self.send_mail,
            )
            self._process(outcomes, self.helper.collect(pending))
            if self.after_batch is not None:
                self.after_batch(self.helper.languages)
                self.helper.languages.clear()
            done += len(mails)
            progress(done, len(fresh))
        return outcomes

    def _read(self, survey: Survey, fresh: array[int]) -> Iterator[tuple[list[RawMail], Pending]]:
        """Each batch's mails, read while the helper is given the batches after it."""
        waiting: deque[tuple[list[RawMail], Pending]] = deque()
        sizes = array("q", (survey.sizes[at] for at in fresh))
        for cut in cut_batches(sizes, count=BATCH, budget=self.limit):
            batch = [survey.entry(at) for at in fresh[cut]]
            mails = [_raw_mail(entry, self.limit) for entry in batch]
            whole = {e.digest: m.raw for e, m in zip(batch, mails, strict=True) if not m.held_size}
            waiting.append((mails, self.helper.submit(whole)))
            if len(waiting) > AHEAD:
                yield waiting.popleft()
        yield from waiting

    def _process(self, outcomes: dict[str, int], parsed: dict[str, ParsedMail]) -> None:
        def ahead(
            db: Database, ids: Sequence[int], settings: PipelineSettings
        ) -> dict[int, ParsedMail]:
            return _supplied(db, ids, settings, parsed)

        for result in process_pending(self.db, self.routing, self.pipeline, ahead):
            outcomes[result.outcome] = outcomes.get(result.outcome, 0) + 1


def _supplied(
    db: Database, ids: Sequence[int], settings: PipelineSettings, parsed: dict[str, ParsedMail]
) -> dict[int, ParsedMail]:
    """A batch's parses from the helper, found by digest (each used once: a second copy
    of the same bytes is parsed anew); what it did not parse is parsed here, ahead."""
    if not parsed:
        return parsed_ahead(db, ids, settings)
    with db.reader() as session:
        digests = session.execute(
            select(InboundMail.id, InboundMail.content_hash).where(InboundMail.id.in_(list(ids)))
        ).all()
    found = {row_id: parsed.pop(digest) for row_id, digest in digests if digest in parsed}
    missing = [row_id for row_id in ids if row_id not in found]
    return found | (parsed_ahead(db, missing, settings) if missing else {})


def _raw_mail(entry: _Entry, limit: int) -> RawMail:
    """The mail to store; one over ALIASDESK_MAX_MAIL_BYTES is held, as live mail is: its
    header alone is stored and quarantined, under the whole mail's digest so that the next
    run of the same import skips it too."""
    raw = entry.load()
    if len(raw) <= limit:
        return RawMail(raw)
    reason = too_large(len(raw), limit, "the archive")
    return RawMail(header_of(raw), held_size=len(raw), reason=reason, digest=entry.digest)
