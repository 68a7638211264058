"""The tuning knobs read at the moment they are used (heartbeat, leases, back-off, worker
threads) are settings like the others (CONTRACT §2): ``.env`` counts, the environment wins,
an empty value is unset."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from aliasdesk.services.delivery import backoff, max_attempts
from aliasdesk.services.holders import heartbeat_interval
from aliasdesk.settings.environment import environment_count, environment_value


@pytest.fixture
def in_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("ALIASDESK_"):
            monkeypatch.delenv(name)
    return tmp_path


def test_a_knob_in_env_file_is_read(in_folder: Path) -> None:
    (in_folder / ".env").write_text(
        "ALIASDESK_HEARTBEAT_SECONDS=7\nALIASDESK_RETRY_BASE_SECONDS=2.5\n"
        "ALIASDESK_MAX_DELIVERY_ATTEMPTS=12\n",
        encoding="utf-8",
    )
    assert heartbeat_interval() == 7.0
    assert backoff(2) == timedelta(seconds=5)
    assert max_attempts() == 12


def test_the_environment_wins_and_empty_is_unset(
    in_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (in_folder / ".env").write_text(
        "ALIASDESK_WORKER_THREADS=3\nALIASDESK_WORKER_IDLE_MS=\n", encoding="utf-8"
    )
    assert environment_value("ALIASDESK_WORKER_THREADS", "4") == "3"
    assert environment_value("ALIASDESK_WORKER_IDLE_MS", "100") == "100"
    monkeypatch.setenv("ALIASDESK_WORKER_THREADS", "8")
    assert environment_value("ALIASDESK_WORKER_THREADS", "4") == "8"
    monkeypatch.setenv("ALIASDESK_WORKER_THREADS", " ")
    assert environment_value("ALIASDESK_WORKER_THREADS", "4") == "4"


def test_a_changed_env_file_is_read_again(in_folder: Path) -> None:
    env_file = in_folder / ".env"
    env_file.write_text("ALIASDESK_HEARTBEAT_SECONDS=7\n", encoding="utf-8")
    assert heartbeat_interval() == 7.0
    env_file.write_text("ALIASDESK_HEARTBEAT_SECONDS=11.5\n", encoding="utf-8")
    assert heartbeat_interval() == 11.5
    env_file.unlink()
    assert environment_value("ALIASDESK_HEARTBEAT_SECONDS", "none") == "none"


def test_other_variables_never_come_from_env_file(
    in_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    (in_folder / ".env").write_text("XDG_CACHE_HOME=/elsewhere\n", encoding="utf-8")
    assert environment_value("XDG_CACHE_HOME") == ""


@pytest.mark.parametrize("value", ["abc", "0", "-3", "2.5"])
def test_a_bad_count_keeps_the_default_and_says_so(
    in_folder: Path, value: str, caplog: pytest.LogCaptureFixture
) -> None:
    (in_folder / ".env").write_text(f"ALIASDESK_WORKER_THREADS={value}\n", encoding="utf-8")
    assert environment_count("ALIASDESK_WORKER_THREADS", 4) == 4
    assert "ALIASDESK_WORKER_THREADS" in caplog.text and repr(value) in caplog.text


def test_a_good_count_is_read(in_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALIASDESK_WORKER_IDLE_MS", " 250 ")
    assert environment_count("ALIASDESK_WORKER_IDLE_MS", 100) == 250
