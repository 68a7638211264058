"""Build hook: the mail templates and the example configuration travel inside the package.

``templates/email/``, ``templates/web/``, ``templates/snippets/`` and ``config/`` stay at
the top of the repository, where the people who write them look for them; a wheel,
however, only carries packages. So the build copies these folders into
``aliasdesk/shipped/`` of the build tree, and an installed aliasdesk finds them beside its
own code (see ``aliasdesk.settings.shipped``). An editable install copies nothing: there
the checkout's folders are read directly, so an edit shows at once. Everything else about
the build is declared in ``pyproject.toml``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
SHIPPED = (
    ("templates/email", "aliasdesk/shipped/templates/email"),
    ("templates/web", "aliasdesk/shipped/templates/web"),
    ("templates/snippets", "aliasdesk/shipped/templates/snippets"),
    ("config", "aliasdesk/shipped/config"),
)


def _ignored(_folder: str, names: list[str]) -> set[str]:
    """Hidden files, editor leftovers and byte code are not part of what ships."""
    return {
        name
        for name in names
        if name.startswith(".") or name.endswith(("~", ".pyc", ".swp")) or name == "__pycache__"
    }


class BuildWithShippedFiles(build_py):  # type: ignore[misc]
    """``build_py`` that also copies the templates and example configuration."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for source, target in SHIPPED:
            origin = HERE / source
            if not origin.is_dir():
                raise SystemExit(f"cannot build aliasdesk: {origin} is missing")
            destination = Path(self.build_lib) / target
            shutil.rmtree(destination, ignore_errors=True)
            shutil.copytree(origin, destination, ignore=_ignored)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs: list[str] = super().get_outputs(include_bytecode)
        if getattr(self, "editable_mode", False):
            return outputs
        for _source, target in SHIPPED:
            folder = Path(self.build_lib) / target
            outputs.extend(str(path) for path in folder.rglob("*") if path.is_file())
        return outputs


setup(cmdclass={"build_py": BuildWithShippedFiles})
