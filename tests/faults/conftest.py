"""The fault tests share the crash tests' fixtures (backends, a private Redis database,
process logs); see tests/crash/conftest.py."""

from tests.crash.conftest import *  # noqa: F403
