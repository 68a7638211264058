"""Where the shipped templates and example configuration are looked up: the checkout's own
folders in a checkout (or an editable install), the copy inside the package otherwise."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from aliasdesk.settings import shipped
from aliasdesk.settings.env import TEMPLATE_DIR, load_settings

ROOT = Path(__file__).resolve().parents[2]
LOOK_UP = (
    "import sys; sys.path.insert(0, sys.argv[1])\n"
    "from aliasdesk.settings import shipped\n"
    "print(shipped.template_dir()); print(shipped.example_routing_file())\n"
)


def test_a_checkout_reads_its_own_folders() -> None:
    assert shipped.checkout_folder() == ROOT
    assert shipped.template_dir() == ROOT / "templates" / "email"
    assert shipped.example_routing_file() == ROOT / "config" / "routing.yaml"
    assert TEMPLATE_DIR == ROOT / "templates" / "email"


def test_the_template_variable_wins(tmp_path: Path) -> None:
    chosen = load_settings({"ALIASDESK_TEMPLATE_DIR": str(tmp_path)}, env_file=None)
    assert chosen.template_dir == tmp_path


def test_saved_answers_ship_beside_the_templates_and_the_variable_wins(tmp_path: Path) -> None:
    assert shipped.snippet_dir() == ROOT / "templates" / "snippets"
    assert load_settings({}, env_file=None).snippet_dir == ROOT / "templates" / "snippets"
    chosen = load_settings({"ALIASDESK_SNIPPET_DIR": str(tmp_path)}, env_file=None)
    assert chosen.snippet_dir == tmp_path


def test_an_installed_package_ignores_folders_that_merely_sit_beside_it(tmp_path: Path) -> None:
    """site-packages/aliasdesk with a stray site-packages/templates/email next to it: the
    package's own shipped copy is used, never the stray folder."""
    site = tmp_path / "site-packages"
    (site / "templates" / "email").mkdir(parents=True)
    (site / "config").mkdir()
    (site / "config" / "routing.yaml").write_text("departments: {}\n", encoding="utf-8")
    (site / "aliasdesk").symlink_to(ROOT / "aliasdesk", target_is_directory=True)
    result = subprocess.run(
        [sys.executable, "-S", "-c", LOOK_UP, str(site)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    templates, routing = result.stdout.splitlines()
    assert Path(templates) == site / "aliasdesk" / "shipped" / "templates" / "email"
    assert Path(routing) == site / "aliasdesk" / "shipped" / "config" / "routing.yaml"
