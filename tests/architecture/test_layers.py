"""The import-linter contracts: domain/ and mail/ do no I/O, services/ know no broker, and
the layers (entry points → gateway | worker | web → application → notify | db → settings →
mail | domain) hold with no exception list."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("aliasdesk", "gateway", "worker", "web")


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint_imports is not None, "import-linter is a dev dependency"
    return subprocess.run(
        [lint_imports, "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def _contracts() -> list[dict[str, Any]]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        config = tomllib.load(file)
    contracts: list[dict[str, Any]] = config["tool"]["importlinter"]["contracts"]
    return contracts


def test_import_contracts_are_kept() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 kept, 0 broken" in result.stdout


def test_layer_and_independence_contracts_have_no_exceptions() -> None:
    contracts = _contracts()
    kinds = [contract["type"] for contract in contracts]
    assert kinds.count("layers") == 1
    assert kinds.count("independence") == 2
    for contract in contracts:
        assert "ignore_imports" not in contract, contract["name"]
    (layers,) = (c["layers"] for c in contracts if c["type"] == "layers")
    assert layers[0] == "aliasdesk.cli", "the entry points sit on top"
    assert layers[1] == "gateway | worker | web", "the processes are independent siblings"


def test_an_upward_import_breaks_the_layers(tmp_path: Path) -> None:
    """The contracts bite: the same tree with the gateway importing a command fails."""
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    poller = tmp_path / "gateway" / "poller.py"
    poller.write_text(poller.read_text() + "\nfrom aliasdesk.cli import commands  # noqa\n")
    worker = tmp_path / "worker" / "process.py"
    worker.write_text(worker.read_text() + "\nfrom gateway import service  # noqa\n")
    pages = tmp_path / "web" / "pages.py"
    pages.write_text(pages.read_text() + "\nfrom worker import actors  # noqa\n")
    result = _lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "layers: entry points, processes, application, infrastructure, core BROKEN" in (
        result.stdout
    )
    assert "gateway, worker and web know nothing of each other BROKEN" in result.stdout
    assert "web.pages -> worker.actors" in result.stdout
    assert "gateway.poller -> aliasdesk.cli.commands" in result.stdout
