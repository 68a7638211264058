"""``single_line``'s shortcut for printable values gives what the two substitutions give."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from aliasdesk.mail import addresses
from aliasdesk.mail.addresses import single_line


def substituted(value: str) -> str:
    """The module's two substitutions alone, as every value went through them before."""
    if not value:
        return ""
    return addresses._SPACES.sub(" ", addresses._BREAKS.sub(" ", value)).strip()


EDGES = st.sampled_from(
    [" ", "  ", "\t", "\r\n", "\n ", "\x85", "\u2028", "\u2029", "\x7f", "\x00", "\xa0", "a"]
)


@given(st.lists(st.one_of(EDGES, st.text(max_size=8)), max_size=12).map("".join))
@example("a  b")
@example("a\u2028b")
def test_same_as_the_substitutions(value: str) -> None:
    assert single_line(value) == substituted(value)


def test_examples() -> None:
    assert single_line("  Nils  Weber\r\n <n@example.com> ") == "Nils Weber <n@example.com>"
    assert single_line("Subject\u2028two") == "Subject two"
    assert single_line("plain") == "plain"
    assert single_line(" Nils  Weber ") == "Nils Weber"  # printable, but two spaces
    assert single_line(" a\t\tb ") == "a b"
    assert single_line("a\tb") == "a\tb"  # one tab is left alone, as it always was
