"""Where a saved answer is looked for, and what a name or a link may never reach."""

from __future__ import annotations

from pathlib import Path

import pytest

from aliasdesk.notify.snippets import SnippetError, SnippetRequest, candidates, fill_snippet

FIELDS = {"ref": "HR-7", "requester_name": "Dave Miller"}


def test_the_department_and_language_versions_are_tried_most_specific_first() -> None:
    root = Path("/s")
    found = candidates(root, SnippetRequest("leave", "HR", ("de", "en")))
    assert [str(p.relative_to(root)) for p in found] == [
        "HR/de/leave.txt",
        "HR/en/leave.txt",
        "HR/leave.txt",
        "de/leave.txt",
        "en/leave.txt",
        "leave.txt",
    ]


def test_names_departments_and_languages_that_are_no_plain_words_are_not_used() -> None:
    root = Path("/s")
    with pytest.raises(SnippetError):
        candidates(root, SnippetRequest("../x", "HR", ("en",)))
    found = candidates(root, SnippetRequest("leave", "../HR", ("..", "e/n", "en")))
    assert [str(p.relative_to(root)) for p in found] == ["en/leave.txt", "leave.txt"]


def test_a_link_out_of_the_folder_is_refused_and_a_link_inside_is_followed(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "snippets"
    folder.mkdir()
    (tmp_path / "outside.txt").write_text("secret")
    (folder / "inside.txt").write_text("Hello {{ requester_name }}, about {{ ref }}.\n")
    (folder / "out.txt").symlink_to(tmp_path / "outside.txt")
    (folder / "alias.txt").symlink_to(folder / "inside.txt")
    assert fill_snippet(folder, SnippetRequest("alias", "HR", ()), FIELDS) == (
        "Hello Dave Miller, about HR-7."
    )
    with pytest.raises(SnippetError, match="points outside the snippet folder"):
        fill_snippet(folder, SnippetRequest("out", "HR", ()), FIELDS)


def test_the_sandbox_prints_fields_and_nothing_else(tmp_path: Path) -> None:
    (tmp_path / "probe.txt").write_text("{{ ref.__class__.__mro__ }}")
    (tmp_path / "call.txt").write_text("{{ ref.format.__globals__ }}")
    for name in ("probe", "call"):
        with pytest.raises(SnippetError, match="cannot be filled in"):
            fill_snippet(tmp_path, SnippetRequest(name, "HR", ()), FIELDS)
