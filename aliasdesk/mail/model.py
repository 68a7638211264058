"""The parsed view of one inbound mail that every later stage works from.

Parsing never raises: whatever could not be read is recorded in ``defects`` so the
pipeline can decide (quarantine, fallback) with a stated reason instead of crashing.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Address:
    """One mailbox: the lower-cased address and the decoded display name."""

    address: str
    name: str = ""

    def __str__(self) -> str:
        return self.address


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file carried by the mail; ``data`` is None when it was dropped for size."""

    filename: str
    content_type: str
    size: int
    data: bytes | None
    inline: bool = False
    content_id: str | None = None

    @property
    def dropped(self) -> bool:
        return self.data is None


@dataclass(frozen=True)
class MachineVerdict:
    """``kind`` None means human mail; ``reason`` says which evidence decided, for the trace
    (mail/machine.py decides)."""

    kind: str | None
    reason: str
    bounced_message_ids: tuple[str, ...] = ()

    @property
    def is_machine(self) -> bool:
        return self.kind is not None


@dataclass(slots=True)
class ParsedMail:
    """Everything aliasdesk reads from a mail, decoded to text.

    ``headers`` keeps every header as (lower-cased name, decoded value) in order, so rules
    on arbitrary headers and the machine-mail checks can look at them without touching
    the stdlib message object again (some headers raise on access; see parse.py).
    """

    message_id: str | None = None
    from_: Address | None = None
    reply_to: tuple[Address, ...] = ()
    sender: Address | None = None
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    delivered_to: tuple[Address, ...] = ()
    x_original_to: tuple[Address, ...] = ()
    subject: str = ""
    date: str | None = None
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str = "text/plain"
    text: str = ""
    html: str | None = None
    attachments: tuple[Attachment, ...] = ()
    defects: tuple[str, ...] = ()
    size: int = 0
    is_empty: bool = False
    extra: dict[str, str] = field(default_factory=dict)
    signals: MachineVerdict | None = field(default=None, compare=False)
    """The machine-mail signals of the mail itself (mail/machine.py ``mail_signals``) when
    they were read with the parse; None: not read yet, the loops stage reads them."""

    def header(self, name: str) -> str | None:
        """First value of header ``name`` (case-insensitive), or None."""
        wanted = name.lower()
        for key, value in self.headers:
            if key == wanted:
                return value
        return None

    def header_values(self, name: str) -> list[str]:
        wanted = name.lower()
        return [value for key, value in self.headers if key == wanted]

    def recipients(self) -> tuple[Address, ...]:
        """To, then Cc, then Delivered-To, then X-Original-To, in header order (CONTRACT §3)."""
        return self.to + self.cc + self.delivered_to + self.x_original_to
