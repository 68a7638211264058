"""Where the shared mail corpus lives and which of its files are messages.

The corpus sits beside the project (../shared/corpus); CI puts it there. Without it the
corpus tests would prove nothing, so in CI its absence fails the run instead of skipping.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.services import service_missing

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"

# corpus/README.md, "Which files are messages".
MESSAGE_GLOBS = (
    "zammad/mail/*.box",
    "zammad/smime/*.eml",
    "cpython-test_email/data/msg_*.txt",
    "ruby-mail/emails/**/*.eml",
    "james-mime4j/**/*.msg",
    "stalwart-mail-parser/eml/*/*.eml",
    "enmime/**/*.raw",
    "sisimai/bsd/*.eml",
    "sisimai/mac-cr-newlines/*.eml",
    "sisimai/not-a-bounce/*.eml",
    "django-helpdesk/test_files/*.eml",
    "talon/standard_replies/*.eml",
    "talon/reply-quotations-share-block.eml",
)
MBOX = "cpython-test_email/data/mailbox_01.mbox"


def require_corpus() -> None:
    """Call at module level: fails (CI) or skips (locally) when the corpus is missing."""
    if not CORPUS.is_dir():
        service_missing("the mail corpus", f"not found at {CORPUS}")


def message_files() -> list[str]:
    """Every message file, relative to the corpus, sorted."""
    return sorted(
        {
            p.relative_to(CORPUS).as_posix()
            for pattern in MESSAGE_GLOBS
            for p in CORPUS.glob(pattern)
        }
    )
