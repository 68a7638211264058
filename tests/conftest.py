"""Shared fixtures: real servers (IMAP, SMTP), databases and brokers."""

from tests.support.backends import *  # noqa: F403
from tests.support.servers import *  # noqa: F403
