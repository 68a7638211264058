"""The README's "With pip or pipx" instructions, followed word for word on a fresh clone.

The commands are read out of README.md itself, so the section cannot drift from what
works: the first block runs in a fresh clone of the repository (as the README says,
"from a checkout"), the others in an empty folder where aliasdesk would run, with a home
folder of its own so nothing outside the test's temporary folder is touched. Packages
come from the same package index every install uses.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SECTION = "### With pip or pipx"


def readme_blocks(section: str = SECTION) -> list[str]:
    """The ```sh blocks of one README section, in order."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(section)
    following = text.find("\n### ", start + len(section))
    body = text[start : following if following != -1 else len(text)]
    return re.findall(r"```sh\n(.*?)```", body, flags=re.DOTALL)


def _run(script: str, cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALIASDESK_", "VIRTUAL"))}
    env.update(HOME=str(home), PATH="/usr/local/bin:/usr/bin:/bin")
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_the_readme_install_section_works_word_for_word(tmp_path: Path) -> None:
    blocks = readme_blocks()
    assert len(blocks) >= 2, "the install section lost its commands"
    clone, home, site = tmp_path / "clone", tmp_path / "home", tmp_path / "site"
    home.mkdir()
    site.mkdir()
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)

    install = _run(blocks[0], clone, home)
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    assert "Done in" in install.stdout, "aliasdesk demo did not finish"
    assert "acknowledgement" in install.stdout, "the demo sent no acknowledgement"

    for block in blocks[1:]:
        step = _run(block, site, home)
        assert step.returncode == 0, block + step.stdout[-2000:] + step.stderr[-2000:]
    assert (site / "config" / "routing.yaml").is_file()
    assert (site / "templates" / "acknowledgement" / "subject.txt").is_file()
    assert str(tmp_path) in str(next((home / ".local" / "aliasdesk").glob("bin/aliasdesk")))
