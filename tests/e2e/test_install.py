"""aliasdesk installed from its own wheel, run from a folder with no checkout in sight.

The sdist is built from the checkout, the wheel from the unpacked sdist (as ``python -m
build`` and ``pip install .`` do), and the wheel installed into a new virtual environment
in a temporary folder. Its dependencies are borrowed from the development environment's
site-packages, added as a plain path: that folder's ``.pth`` hooks, among them the one
that makes the checkout importable, are never run, so aliasdesk itself can only come
from the wheel (checked below). This keeps the test fast and free of network installs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tarfile
import venv
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.local_servers import LocalImapServer, SmtpSink
from tests.support.harness import ROUTING, build_mail

ROOT = Path(__file__).resolve().parents[2]
DEV_PYTHON = Path(sys.executable)
DEV_SITE_PACKAGES = Path(sysconfig.get_paths()["purelib"])
SHIPPED_IN_WHEEL = (
    "aliasdesk/shipped/templates/email/acknowledgement/subject.txt",
    "aliasdesk/shipped/templates/email/_layout.html",
    "aliasdesk/shipped/templates/web/ticket.html",
    "web/pages.py",
    "aliasdesk/shipped/templates/email/locale/de/LC_MESSAGES/messages.mo",
    "aliasdesk/shipped/templates/snippets/HR/parental-leave.txt",
    "aliasdesk/shipped/config/routing.yaml",
    "aliasdesk/shipped/config/examples/minimal.yaml",
)
IN_SDIST = (
    "templates/email/acknowledgement/body.html",
    "templates/web/base.html",
    "templates/snippets/thanks-received.txt",
    "config/routing.yaml",
    "setup.py",
)


@dataclass(frozen=True)
class Installed:
    """A virtual environment with the wheel in it, and an empty folder to work in."""

    prefix: Path
    workdir: Path

    @property
    def aliasdesk(self) -> Path:
        return self.prefix / "bin" / "aliasdesk"

    @property
    def python(self) -> Path:
        return self.prefix / "bin" / "python"


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: no settings, no checkout on any path."""
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ALIASDESK_", "PYTHON", "VIRTUAL_ENV"))
    }
    keep.update(extra)
    return keep


def _check(args: list[str | Path], cwd: Path, timeout: float = 180) -> str:
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"{args}: {result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def _build_wheel(out: Path) -> Path:
    """sdist from the checkout, then the wheel from the unpacked sdist."""
    sdist_dir, wheel_dir = out / "sdist", out / "wheel"
    sdist_dir.mkdir()
    code = f"from setuptools import build_meta; print(build_meta.build_sdist({str(sdist_dir)!r}))"
    name = _check([DEV_PYTHON, "-c", code], cwd=ROOT).strip().splitlines()[-1]
    with tarfile.open(sdist_dir / name) as archive:
        members = archive.getnames()
        for path in IN_SDIST:
            assert any(m.endswith("/" + path) for m in members), f"sdist lacks {path}"
        archive.extractall(out / "unpacked", filter="data")
    (source,) = (out / "unpacked").iterdir()
    _check(
        [DEV_PYTHON, "-m", "pip", "wheel", "--no-deps", "-q", "-w", wheel_dir, source],
        cwd=out,
    )
    (wheel,) = wheel_dir.glob("aliasdesk-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert not [path for path in SHIPPED_IN_WHEEL if path not in names], sorted(names)
    return wheel


def _site_packages(prefix: Path) -> Path:
    (found,) = (prefix / "lib").glob("python3*/site-packages")
    return found


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    base = tmp_path_factory.mktemp("install")
    assert ROOT not in base.parents, "the installation must live outside the checkout"
    wheel = _build_wheel(base)
    prefix = base / "venv"
    venv.EnvBuilder(with_pip=False, symlinks=True).create(prefix)
    python = prefix / "bin" / "python"
    pip: list[str | Path] = [DEV_PYTHON, "-m", "pip", "--python", python]
    _check([*pip, "install", "--no-deps", "--no-index", "-q", wheel], cwd=base)
    # Dependencies only: a plain path line, so the .pth files found there are not run.
    (_site_packages(prefix) / "aliasdesk-test-dependencies.pth").write_text(
        f"{DEV_SITE_PACKAGES}\n", encoding="utf-8"
    )
    workdir = base / "work"
    workdir.mkdir()
    yield Installed(prefix, workdir)


def test_the_installed_package_is_the_wheel_not_the_checkout(installed: Installed) -> None:
    code = (
        "import sys, aliasdesk, gateway, worker\n"
        "from aliasdesk.settings.env import TEMPLATE_DIR\n"
        "from aliasdesk.settings.shipped import example_routing_file\n"
        "print(aliasdesk.__file__, gateway.__file__, worker.__file__)\n"
        "print(TEMPLATE_DIR)\nprint(example_routing_file())\nprint(*sys.path)\n"
    )
    result = subprocess.run(
        [installed.python, "-c", code],
        cwd=installed.workdir,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    modules, templates, routing, path = result.stdout.splitlines()
    site = _site_packages(installed.prefix)
    assert all(Path(m).is_relative_to(site) for m in modules.split()), modules
    assert Path(templates) == site / "aliasdesk" / "shipped" / "templates" / "email"
    assert Path(routing) == site / "aliasdesk" / "shipped" / "config" / "routing.yaml"
    assert str(ROOT) not in path.split()


def test_demo_runs_from_an_empty_folder(installed: Installed) -> None:
    empty = installed.workdir / "demo"
    empty.mkdir()
    result = subprocess.run(
        [installed.aliasdesk, "demo"],
        cwd=empty,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "template not found" not in result.stdout + result.stderr
    acknowledgements = [line for line in result.stdout.splitlines() if "acknowledgement" in line]
    assert len(acknowledgements) >= 3, result.stdout
    assert not list(empty.iterdir()), "the demo leaves nothing behind"


def test_run_once_acknowledges_mail_with_the_packaged_templates(
    installed: Installed, pymap_server: LocalImapServer, smtp_sink: SmtpSink
) -> None:
    config = installed.workdir / "config"
    config.mkdir(exist_ok=True)
    (config / "routing.yaml").write_bytes(ROUTING.read_bytes())
    pymap_server.append(build_mail(subject="Leave form", message_id="<install-1@example.com>"))
    env = _clean_env(
        ALIASDESK_IMAP_HOST=pymap_server.host,
        ALIASDESK_IMAP_PORT=str(pymap_server.port),
        ALIASDESK_IMAP_USERNAME=pymap_server.username,
        ALIASDESK_IMAP_PASSWORD=pymap_server.password,
        ALIASDESK_IMAP_SECURITY="none",
        ALIASDESK_SMTP_HOST=smtp_sink.host,
        ALIASDESK_SMTP_PORT=str(smtp_sink.port),
        ALIASDESK_SMTP_SECURITY="none",
    )
    result = subprocess.run(
        [installed.aliasdesk, "run", "--once"],
        cwd=installed.workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (installed.workdir / "aliasdesk.db").is_file()
    acknowledgements = [m for m in smtp_sink.messages if m.rcpt_tos == ["dave@example.com"]]
    assert len(acknowledgements) == 1
    assert b"[HR-1]" in acknowledgements[0].data
