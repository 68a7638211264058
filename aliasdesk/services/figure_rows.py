"""Service figures as flat CSV rows: one column list for ``aliasdesk report --csv`` and
the dashboard's download, so a spreadsheet built on one reads the other."""

from __future__ import annotations

from typing import Any

CSV_COLUMNS = (
    "key",
    "tickets_in",
    "resolved",
    "backlog",
    "first_response_median_s",
    "first_response_p90_s",
    "resolution_median_s",
    "resolution_p90_s",
    "sla_attainment",
    "reopen_rate",
    "rating_average",
    "rating_count",
    "rating_response_rate",
    *(f"rating_{n}" for n in range(1, 6)),
)


def csv_row(group: dict[str, Any]) -> list[Any]:
    """One group of ``service_figures`` in ``CSV_COLUMNS`` order; unknown values empty."""
    rating = group["rating"]
    values = [
        group["key"],
        group["tickets_in"],
        group["resolved"],
        group["backlog"],
        group["first_response"]["median_s"],
        group["first_response"]["p90_s"],
        group["resolution"]["median_s"],
        group["resolution"]["p90_s"],
        group["sla_attainment"],
        group["reopen_rate"],
        rating["average"],
        rating["count"],
        rating["response_rate"],
        *(rating["distribution"][str(n)] for n in range(1, 6)),
    ]
    return ["" if value is None else value for value in values]
