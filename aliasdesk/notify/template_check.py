"""The start-up check of the notification templates.

A template that is missing or broken would otherwise surface one mail at a time, each
delivery failing while the process looks healthy. ``run``, ``gateway``, ``worker`` and
``demo`` therefore render every notification kind (and every department override) once
with its sample context before they start, and refuse to start when one fails.
"""

from __future__ import annotations

from pathlib import Path

from aliasdesk.notify.render import TemplateRenderer
from aliasdesk.settings.errors import ConfigError, ConfigurationError

HOW_TO_FIX = (
    "set ALIASDESK_TEMPLATE_DIR to a folder with every notification kind's templates, "
    "or reinstall aliasdesk"
)


class TemplatesUnusable(ConfigurationError):
    """At least one notification cannot be built from the template folder in force."""

    def describe(self) -> list[str]:
        lines = ["aliasdesk: notification templates cannot be rendered, nothing was started:"]
        lines.extend(f"  {error.path}: {error.message}" for error in self.errors)
        lines.append(f"  ({HOW_TO_FIX})")
        return lines


def template_problems(renderer: TemplateRenderer) -> list[ConfigError]:
    """Every template that cannot be rendered, each named by its full path."""
    folder = renderer.template_dir
    if not folder.is_dir():
        return [ConfigError(str(folder), 0, "templates", "template folder does not exist")]
    problems = []
    for problem in renderer.check_templates():
        name, _, message = problem.partition(": ")
        problems.append(ConfigError(str(folder / name), 0, "templates", message))
    return problems


def require_templates(template_dir: Path) -> None:
    """Return when every kind renders from ``template_dir``; else raise TemplatesUnusable."""
    problems = template_problems(TemplateRenderer(template_dir))
    if problems:
        raise TemplatesUnusable(problems)
