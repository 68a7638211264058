"""docker-compose.yml and the Dockerfile describe a runnable deployment.

There is no Docker engine here; the compose client validates the file where it is
installed, and the structural checks below always run.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict[str, Any]:
    data = YAML(typ="safe").load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def test_compose_has_every_part_of_a_deployment() -> None:
    services = _compose()["services"]
    assert {"postgres", "redis", "gateway", "worker", "migrate", "devmail"} <= set(services)
    assert services["gateway"]["command"] == ["gateway"]
    assert services["worker"]["command"] == ["worker"]
    assert services["worker"]["deploy"]["replicas"] >= 2
    assert services["migrate"]["command"] == ["db", "upgrade"]
    env = services["gateway"]["environment"]
    assert env["ALIASDESK_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert env["ALIASDESK_BROKER_URL"].startswith("redis://")


def test_dockerfile_installs_the_console_script() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["aliasdesk"]' in text
    for folder in ("aliasdesk", "gateway", "worker", "templates", "config"):
        assert f"COPY {folder} ./{folder}" in text


def test_compose_client_accepts_the_file_where_installed() -> None:
    """Runs the compose client's own validation when one is installed; there is no Docker
    engine on the CI machine, so the structural tests above are what always runs."""
    clients = [c for c in (["docker", "compose"], ["docker-compose"]) if shutil.which(c[0])]
    usable = [
        c for c in clients if subprocess.run([*c, "version"], capture_output=True).returncode == 0
    ]
    for command in usable:
        result = subprocess.run(
            [*command, "-f", str(ROOT / "docker-compose.yml"), "config", "--quiet"],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        assert result.returncode == 0, result.stderr
    structural = _compose()
    assert structural["volumes"].keys() == {"pgdata", "redisdata"}
