"""``deliveries list|retry|dismiss`` and ``quarantine dismiss``: an admin deals with what
``status`` reports. Exit 1 when an id named could not be dealt with, so scripts notice."""

from __future__ import annotations

from collections.abc import Sequence

from aliasdesk.cli.output import print_json, printable
from aliasdesk.db.session import Database
from aliasdesk.services import attention


def deliveries_list(db: Database, *, failed: bool, as_json: bool) -> int:
    rows = attention.list_deliveries(db, failed_only=failed)
    if as_json:
        print_json(rows)
        return 0
    if not rows:
        print("no failed deliveries" if failed else "no deliveries")
    for row in rows:
        state = f"{row['state']}{' (dismissed)' if row['dismissed_at'] else ''}"
        print(
            f"#{row['id']:<6} {state:<19} {row['ticket'] or '-':<9} {row['kind']:<16} "
            f"{row['recipient']}"
        )
        if row["error"]:
            print(f"        error: {printable(str(row['error']))}")
    return 0


def deliveries_retry(db: Database, ids: Sequence[int]) -> int:
    return _report(attention.retry_deliveries(db, ids))


def deliveries_dismiss(db: Database, ids: Sequence[int]) -> int:
    return _report(attention.dismiss_deliveries(db, ids))


def quarantine_dismiss(db: Database, ids: Sequence[int]) -> int:
    return _report(attention.dismiss_quarantine(db, ids))


def _report(results: Sequence[attention.Handled]) -> int:
    for result in results:
        print(f"#{result.id}: {result.detail}")
    return 0 if all(result.done for result in results) else 1
