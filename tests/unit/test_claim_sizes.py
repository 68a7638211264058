"""A process's claim of the due jobs: its even share, never more than a full claim."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aliasdesk.claim_sizes import CLAIM_BATCH, ClaimSize


def test_a_lone_process_takes_all_it_sees_up_to_a_full_claim() -> None:
    alone = ClaimSize()
    assert alone.looked_at == CLAIM_BATCH
    assert alone.share_of(7) == 7
    assert alone.share_of(CLAIM_BATCH) == CLAIM_BATCH


def test_a_burst_is_split_between_the_processes() -> None:
    two = ClaimSize(200, sharers=2)
    assert two.share_of(10) == 5
    assert two.share_of(11) == 6  # rounded up: no job is left for a third look
    assert two.share_of(1) == 1


def test_a_backlog_goes_in_full_claims() -> None:
    two = ClaimSize(200, sharers=2)
    assert two.looked_at == 400
    assert two.share_of(400) == 200


@pytest.mark.parametrize(("most", "sharers"), [(0, 1), (10, 0), (-1, 2)])
def test_a_claim_of_nothing_is_refused(most: int, sharers: int) -> None:
    with pytest.raises(ValueError):
        ClaimSize(most, sharers)


@given(
    most=st.integers(1, 500),
    sharers=st.integers(1, 16),
    due=st.integers(1, 10_000),
)
def test_shares_cover_what_is_seen_without_exceeding_a_claim(
    most: int, sharers: int, due: int
) -> None:
    claims = ClaimSize(most, sharers)
    seen = min(due, claims.looked_at)
    share = claims.share_of(seen)
    assert 1 <= share <= min(most, seen)
    assert share * sharers >= seen  # every process taking its share leaves nothing seen
