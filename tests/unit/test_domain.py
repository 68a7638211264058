"""The pure domain: ticket references, the state machine, owner policies, reply commands."""

from __future__ import annotations

import itertools

import pytest

from aliasdesk.domain.assignment import choose_owner, takes_round_robin_turn
from aliasdesk.domain.commands import parse_commands
from aliasdesk.domain.languages import choose_language, known_language
from aliasdesk.domain.refs import RefError, TicketRef, format_ref, parse_ref, refs_in_subject
from aliasdesk.domain.states import ALLOWED, Status, TransitionError, can_transition, transition

EXPECTED_MOVES = {
    ("new", "open"),
    ("new", "pending"),
    ("new", "resolved"),
    ("new", "closed"),
    ("open", "pending"),
    ("open", "resolved"),
    ("open", "closed"),
    ("pending", "open"),
    ("pending", "resolved"),
    ("pending", "closed"),
    ("resolved", "open"),
    ("resolved", "closed"),
}


@pytest.mark.parametrize(("current", "target"), list(itertools.product(Status, Status)))
def test_every_pair_of_states_is_allowed_or_refused_as_the_table_says(
    current: Status, target: Status
) -> None:
    allowed = (current.value, target.value) in EXPECTED_MOVES
    assert can_transition(current, target) is allowed
    if allowed:
        assert transition(current, target) is target
    else:
        with pytest.raises(TransitionError) as caught:
            transition(current, target)
        assert f"a {current.value} ticket cannot become {target.value}" in str(caught.value)


def test_closed_is_final_and_says_so() -> None:
    assert ALLOWED[Status.CLOSED] == frozenset()
    with pytest.raises(TransitionError, match="nothing \\(final\\)"):
        transition(Status.CLOSED, Status.OPEN)


def test_refs_format_and_parse_round_trip() -> None:
    assert format_ref("HR", 42) == "HR-42"
    assert parse_ref("hr-42") == TicketRef("HR", 42)
    assert str(parse_ref(" IT-7 ")) == "IT-7"
    assert TicketRef("FIN", 3).tag == "[FIN-3]"


@pytest.mark.parametrize("bad", ["HR42", "HR-0", "-3", "H R-1", "HR-", "", "HR-01x"])
def test_malformed_refs_are_refused(bad: str) -> None:
    with pytest.raises(RefError):
        parse_ref(bad)


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Re: [HR-42] Parental leave", [TicketRef("HR", 42)]),
        ("AW: SV: Fwd: RE: question [it-7]", [TicketRef("IT", 7)]),
        ("[HR-1] and [IT-2] and [HR-1]", [TicketRef("HR", 1), TicketRef("IT", 2)]),
        ("HR-42 without brackets", []),
        ("[ FAC-3 ] spaced", [TicketRef("FAC", 3)]),
    ],
)
def test_tags_are_found_anywhere_in_a_subject(subject: str, expected: list[TicketRef]) -> None:
    assert refs_in_subject(subject) == expected


def test_round_robin_takes_turns_and_skips_away_members() -> None:
    members = ["a@x", "b@x", "c@x"]
    owners = [choose_owner("round_robin", members, cursor=i).owner for i in range(4)]
    assert owners == ["a@x", "b@x", "c@x", "a@x"]
    choice = choose_owner("round_robin", members, ["b@x"], cursor=1)
    assert choice.owner == "c@x" and choice.next_cursor == 2


def test_least_loaded_picks_the_member_with_fewest_active_tickets() -> None:
    choice = choose_owner("least_loaded", ["a@x", "b@x"], open_counts={"a@x": 3, "b@x": 1})
    assert choice.owner == "b@x"
    tie = choose_owner("least_loaded", ["a@x", "b@x"], open_counts={})
    assert tie.owner == "a@x"


def test_fixed_and_none_policies() -> None:
    assert choose_owner("fixed", ["a@x", "b@x"], fixed_member="b@x").owner == "b@x"
    assert choose_owner("fixed", ["a@x", "b@x"], ["b@x"], fixed_member="b@x").owner == "a@x"
    assert choose_owner("none", ["a@x"]).owner is None
    assert choose_owner("round_robin", []).owner is None
    assert choose_owner("round_robin", ["a@x"], ["a@x"]).reason == "every member is marked away"


def test_commands_only_count_on_leading_lines_of_their_own() -> None:
    block = parse_commands("#resolve\n\n#priority HIGH\nDone, see attached.\n#close\n")
    assert [str(c) for c in block.commands] == ["#resolve", "#priority high"]
    assert block.remaining_text == "Done, see attached.\n#close"
    assert parse_commands("Please #close this").commands == ()


def test_bad_commands_carry_a_reason() -> None:
    block = parse_commands("#status maybe\n#assign\n#frobnicate\n#assign <Bob@Example.com>")
    errors = [c.error for c in block.commands]
    assert errors[0] == "usage: #status open|pending|resolved"
    assert errors[1] == "usage: #assign <member address>"
    assert errors[2] is not None and errors[2].startswith("unknown command #frobnicate")
    assert block.commands[3].argument == "bob@example.com" and errors[3] is None


def test_note_marks_the_reply_internal() -> None:
    assert parse_commands("#note\nCalled the landlord.").is_note
    assert not parse_commands("#take\nOn it.").is_note


def test_takes_round_robin_turn_says_exactly_when_choose_owner_uses_the_cursor() -> None:
    people = ["a@x.org", "b@x.org", "c@x.org"]
    memberships = [people[:n] for n in range(len(people) + 1)]
    checked = 0
    for policy in ("round_robin", "least_loaded", "fixed", "none", "something_else"):
        for members in memberships:
            aways = [
                list(c) for n in range(len(members) + 1) for c in itertools.combinations(members, n)
            ]
            for away in aways:
                for fixed in (None, "a@x.org", "c@x.org"):
                    choice = choose_owner(policy, members, away, fixed_member=fixed, cursor=7)
                    says = takes_round_robin_turn(policy, members, away, fixed_member=fixed)
                    assert says == (choice.next_cursor is not None), (policy, members, away)
                    checked += 1
    assert checked == 5 * (1 + 2 + 4 + 8) * 3


def test_a_tag_too_large_for_a_ticket_number_is_no_tag() -> None:
    """Ticket numbers are 32-bit integers in the database; a longer number in a subject
    must not reach a query (PostgreSQL refuses it), it is simply not a tag."""
    assert refs_in_subject("[HR-999999999] ok") == [TicketRef("HR", 999999999)]
    assert refs_in_subject("[HR-9999999999] too long") == []


def test_the_language_is_chosen_in_the_contracts_order() -> None:
    order = {"own_choice": "nl", "earlier": "fr", "detected": "de", "department_default": "es"}
    assert choose_language(**order) == "nl"
    assert choose_language(**{**order, "own_choice": None}) == "fr"
    assert choose_language(**{**order, "own_choice": None, "earlier": None}) == "de"
    nothing = {"own_choice": None, "earlier": None, "detected": None, "department_default": None}
    assert choose_language(**{**nothing, "department_default": "es"}) == "es"
    assert choose_language(**nothing) == "en"
    assert choose_language(**{**nothing, "own_choice": "it", "earlier": "DE-ch"}) == "de"
    assert [known_language(c) for c in ("FR", "nl_BE", "pt", "", None)] == [
        "fr",
        "nl",
        None,
        None,
        None,
    ]
