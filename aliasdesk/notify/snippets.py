"""Saved answers (``#reply NAME``): plain-text files a member inserts into a reply by name.

A department writes its common answers once, as ``<snippet folder>/NAME.txt``; the same
answer may be written per department and per language, and the most specific one wins:
``<DEPT>/<lang>/NAME.txt``, ``<DEPT>/NAME.txt``, ``<lang>/NAME.txt``, ``NAME.txt``.

The name comes from a mail, so it is checked twice: it must be a plain file name (the
command's validation), and the file found must lie inside the folder once links are
followed, so no name or link ever reads a file elsewhere. The text is filled in with the
ticket's fields by a sandboxed Jinja2 environment: a saved answer can print a field but
never reach into Python.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from aliasdesk.notify.language import _

SNIPPET_LIMIT = 20_000
"""Characters of a saved answer kept: an answer, not a manual."""
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_DEPARTMENT = re.compile(r"^[A-Z][A-Z0-9]{0,9}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")
_ENVIRONMENT = SandboxedEnvironment(
    undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False
)


class SnippetError(ValueError):
    """A saved answer that cannot be used; the message says why, for the member."""


@dataclass(frozen=True)
class SnippetRequest:
    """Which saved answer, for which department and in which languages (best first)."""

    name: str
    department: str
    languages: Sequence[str]


def candidates(folder: Path, request: SnippetRequest) -> list[Path]:
    """The files that could hold the answer, most specific first."""
    if not _NAME.match(request.name):
        raise SnippetError(
            _("%(name)s is not a saved answer's name") % {"name": repr(request.name)}
        )
    file = f"{request.name}.txt"
    languages = [lang for lang in dict.fromkeys(request.languages) if _LANGUAGE.match(lang)]
    department = request.department if _DEPARTMENT.match(request.department) else None
    found: list[Path] = []
    if department:
        found += [folder / department / lang / file for lang in languages]
        found.append(folder / department / file)
    found += [folder / lang / file for lang in languages]
    found.append(folder / file)
    return found


def find_snippet(folder: Path, request: SnippetRequest) -> Path:
    """The file of the saved answer; SnippetError when there is none (or it lies outside)."""
    root = folder.resolve()
    for path in candidates(folder, request):
        if not path.is_file():
            continue
        if not path.resolve().is_relative_to(root):
            outside = _("saved answer %(name)s points outside the snippet folder")
            raise SnippetError(outside % {"name": request.name})
        return path
    raise SnippetError(_("there is no saved answer called %(name)s") % {"name": request.name})


def fill_snippet(folder: Path, request: SnippetRequest, fields: Mapping[str, str]) -> str:
    """The saved answer with the ticket's fields filled in."""
    path = find_snippet(folder, request)
    try:
        source = path.read_text(encoding="utf-8")[:SNIPPET_LIMIT]
        return _ENVIRONMENT.from_string(source).render(dict(fields)).strip()
    except (OSError, UnicodeDecodeError) as error:
        unread = _("saved answer %(name)s cannot be read") % {"name": request.name}
        raise SnippetError(unread) from error
    except jinja2.TemplateError as error:
        unfilled = _("saved answer %(name)s cannot be filled in: %(error)s")
        raise SnippetError(unfilled % {"name": request.name, "error": error}) from error
