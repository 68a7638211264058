"""Templates that cannot build a mail stop the processes at start-up, and ``run --once``
does not report success when mail of its run could not be rendered."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aliasdesk.settings.env import TEMPLATE_DIR
from gateway.local_servers import LocalImapServer, SmtpSink
from tests.support.harness import ROUTING, build_mail

ALIASDESK = shutil.which("aliasdesk", path=str(Path(sys.executable).parent)) or "aliasdesk"
SERVING_COMMANDS = [["run", "--once"], ["run"], ["gateway"], ["worker"], ["demo"]]
ONLY_DAVE = (
    '{% if requester == "dave@example.com" %}[{{ ref }}] {{ subject | without_tag(ref) }}'
    "{% else %}{{ fact_no_context_has }}{% endif %}\n"
)


def _aliasdesk(
    args: list[str], workdir: Path, timeout: float = 60, **settings: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALIASDESK_")}
    env.update(
        ALIASDESK_DATABASE_URL=f"sqlite:///{workdir / 'desk.db'}",
        ALIASDESK_ROUTING_FILE=str(ROUTING),
        ALIASDESK_IMAP_HOST="127.0.0.1",
        ALIASDESK_IMAP_PORT="9",
        ALIASDESK_IMAP_SECURITY="none",
        ALIASDESK_SMTP_HOST="127.0.0.1",
        ALIASDESK_SMTP_PORT="9",
        ALIASDESK_SMTP_SECURITY="none",
    )
    env.update(settings)
    return subprocess.run(
        [ALIASDESK, *args], cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    """A copy of the shipped templates, for a test to break."""
    folder = tmp_path / "templates"
    shutil.copytree(TEMPLATE_DIR, folder)
    return folder


@pytest.mark.parametrize("command", SERVING_COMMANDS, ids=" ".join)
def test_a_missing_template_stops_the_process_naming_the_file(
    command: list[str], templates: Path, tmp_path: Path
) -> None:
    missing = templates / "acknowledgement" / "subject.txt"
    missing.unlink()
    result = _aliasdesk(command, tmp_path, ALIASDESK_TEMPLATE_DIR=str(templates))
    assert result.returncode == 2, result.stderr
    assert f"{missing}: template not found" in result.stderr
    assert not (tmp_path / "desk.db").exists(), "nothing may start before the check"


def test_a_broken_layout_is_named_not_the_template_that_extends_it(
    templates: Path, tmp_path: Path
) -> None:
    layout = templates / "_layout.html"
    layout.write_text(layout.read_text(encoding="utf-8") + "{% if %}\n", encoding="utf-8")
    result = _aliasdesk(["run", "--once"], tmp_path, ALIASDESK_TEMPLATE_DIR=str(templates))
    assert result.returncode == 2, result.stderr
    assert "acknowledgement/body.html: syntax error in _layout.html line" in result.stderr


def test_a_template_folder_that_does_not_exist_is_named(tmp_path: Path) -> None:
    nowhere = tmp_path / "nowhere"
    result = _aliasdesk(["worker"], tmp_path, ALIASDESK_TEMPLATE_DIR=str(nowhere))
    assert result.returncode == 2, result.stderr
    assert f"{nowhere}: template folder does not exist" in result.stderr


def test_run_once_exits_1_when_mail_of_its_run_could_not_be_rendered(
    templates: Path,
    tmp_path: Path,
    pymap_server: LocalImapServer,
    smtp_sink: SmtpSink,
    database_url: str,
) -> None:
    # Renders for the sample context of the start-up check, fails for anyone but Dave.
    (templates / "acknowledgement" / "subject.txt").write_text(ONLY_DAVE, encoding="utf-8")
    settings = {
        "ALIASDESK_TEMPLATE_DIR": str(templates),
        "ALIASDESK_DATABASE_URL": database_url,
        "ALIASDESK_IMAP_HOST": pymap_server.host,
        "ALIASDESK_IMAP_PORT": str(pymap_server.port),
        "ALIASDESK_IMAP_USERNAME": pymap_server.username,
        "ALIASDESK_IMAP_PASSWORD": pymap_server.password,
        "ALIASDESK_SMTP_HOST": smtp_sink.host,
        "ALIASDESK_SMTP_PORT": str(smtp_sink.port),
    }
    pymap_server.append(build_mail("dave@example.com", "hr@example.com", "Leave form"))
    pymap_server.append(build_mail("erika@example.com", "it@example.com", "VPN broken"))

    first = _aliasdesk(["run", "--once"], tmp_path, timeout=180, **settings)

    assert first.returncode == 1, first.stderr
    assert "1 mail(s) could not be rendered and were not sent" in first.stderr
    assert "acknowledgement to erika@example.com: cannot render the mail:" in first.stderr
    assert "acknowledgement/subject.txt: undefined value" in first.stderr
    assert [m.rcpt_tos for m in smtp_sink.messages].count(["dave@example.com"]) == 1
    assert ["erika@example.com"] not in [m.rcpt_tos for m in smtp_sink.messages]

    again = _aliasdesk(["run", "--once"], tmp_path, timeout=180, **settings)
    assert again.returncode == 0, "a failure of an earlier run is not this run's"
