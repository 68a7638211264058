"""What went wrong with a delivery, sorted by what the caller should do about it.

Its own module because the sorting is the contract between the mailer and the delivery
actor, and both the single-connection mailer and the pooled batch sender produce these
errors. ``TransientDeliveryError`` means "keep the mail and try again later" (4xx,
timeouts, dropped connections, a server we cannot talk to as configured),
``PermanentDeliveryError`` means "the server refused this mail for good" (5xx). When in
doubt the error is transient: a duplicate with the same Message-ID is better than a lost
mail.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class DeliveryError(Exception):
    """Root of the mailer's errors; ``code`` is the SMTP reply code when there was one."""

    def __init__(
        self,
        code: int | None,
        message: str,
        refused: Mapping[str, tuple[int, str]] | None = None,
    ) -> None:
        super().__init__(f"{code} {message}" if code is not None else message)
        self.code = code
        self.message = message
        self.refused: dict[str, tuple[int, str]] = dict(refused or {})


class TransientDeliveryError(DeliveryError):
    """Try again later: 4xx, a timeout, a dropped connection, a server unreachable."""


class SmtpSetupError(TransientDeliveryError):
    """The server cannot be used as configured (no STARTTLS offered, login refused).

    Transient on purpose: the mail is fine and must be kept until an admin fixes the
    configuration; only then will a retry succeed.
    """


class PermanentDeliveryError(DeliveryError):
    """The server refused the mail with a 5xx reply; retrying will not help."""


class PartialDeliveryError(PermanentDeliveryError):
    """Accepted for some recipients, refused for the others (``refused``).

    A subclass of the permanent error so that a caller that does not look closer never
    resends, which would duplicate the mail for the ``accepted`` recipients.
    ``refused`` keeps each address's own code: one refused with 4xx may succeed if a
    careful caller retries it alone later.
    """

    def __init__(
        self, reply: str, accepted: Sequence[str], refused: Mapping[str, tuple[int, str]]
    ) -> None:
        code = max(code for code, _ in refused.values())
        summary = "; ".join(f"{addr}: {c} {msg}" for addr, (c, msg) in refused.items())
        super().__init__(code, f"refused for some recipients: {summary}", refused)
        self.reply = reply
        self.accepted = tuple(accepted)


def classify_reply(
    code: int, message: str, refused: Mapping[str, tuple[int, str]] | None = None
) -> DeliveryError:
    """The error for a refusing SMTP reply: permanent for 5xx, transient for anything else."""
    if 500 <= code < 600:
        return PermanentDeliveryError(code, message, refused)
    return TransientDeliveryError(code, message, refused)


def all_recipients_refused(refused: Mapping[str, tuple[int, str]]) -> DeliveryError:
    """The error when RCPT was refused for every recipient: permanent only if all were 5xx."""
    summary = "; ".join(f"{addr}: {code} {msg}" for addr, (code, msg) in refused.items())
    codes = [code for code, _ in refused.values()]
    if all(500 <= code < 600 for code in codes):
        return PermanentDeliveryError(codes[0], f"all recipients refused: {summary}", refused)
    transient = next(code for code in codes if not 500 <= code < 600)
    return TransientDeliveryError(transient, f"recipients refused: {summary}", refused)


def as_delivery_error(error: Exception) -> DeliveryError:
    """A delivery error as it is, anything else as a transient one (the mail is kept)."""
    if isinstance(error, DeliveryError):
        return error
    return TransientDeliveryError(None, f"unexpected error: {type(error).__name__}: {error}")
