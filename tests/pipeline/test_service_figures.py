"""Service figures against a scripted history whose every figure is worked out by hand.

Two weeks of HR mail (Mon 23 Nov to Sun 6 Dec 2026) are imported with their own dates
(tickets are numbered in the order the mails were written).
HR works Monday to Friday 09:00-17:00 in Berlin (CET, UTC+1 all through), Thursday
26 November is a holiday; targets: first response 2h, resolution 16h. IT runs round the
clock (no calendar): first response 1h, resolution 1d.

    HR-1 dave   Mon 23 10:00 opened; Alice answers 11:30 (1h30 = 5400 s); resolves
                Tue 24 10:00 (Mon 10-17 7h + Tue 9-10 1h = 28800 s); rated 5.
    HR-2 dave   Wed 25 15:00 opened; Alice answers Fri 27 10:00 (Wed 2h, Thu holiday, Fri
                1h = 10800 s: target missed); resolves 11:00 (14400 s); Dave writes back
                Mon 30 09:30 (reopened), Alice resolves again 10:00 (first resolution kept).
    HR-3 erika  Fri 27 16:00 opened; Bob answers Mon 30 10:00 and sets it pending
                (Fri 1h + Mon 1h = 7200 s, the target exactly); Erika answers Tue 1 Dec
                14:00 (stopped: Mon 10-17 7h + Tue 9-14 5h = 12h); Bob resolves Wed 2 Dec
                11:00 (Fri 1 + Mon 8 + Tue 8 + Wed 2 = 19h, less 12h = 25200 s); rated 2.
    HR-4 erika  Sat 28 10:00 opened; nobody answers (the backlog).
    IT-1 fred   Mon 30 09:00 opened; Carol answers 09:20 (1200 s), resolves 13:20 (15600 s).

Nearest-rank percentiles: of n values sorted, the median is number ceil(n/2), the 90th
percentile number ceil(0.9 n).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from aliasdesk.cli.importing import import_path
from aliasdesk.cli.main import main
from aliasdesk.db.models import Ticket
from aliasdesk.runtime import Runtime
from aliasdesk.services.service_figures import department_figures
from tests.e2e.test_import import as_mbox
from tests.pipeline.conftest import AUTHSERV_ID
from tests.support.harness import ROUTING, runtime_for
from tests.support.smtp_script import ScriptedSmtpServer

BERLIN = ZoneInfo("Europe/Berlin")
VERIFIED = f"Authentication-Results: {AUTHSERV_ID}; dmarc=pass header.from=example.com"
CALENDAR = """
calendars:
  office:
    timezone: Europe/Berlin
    hours: {mon-fri: "09:00-17:00"}
    holidays: [2026-11-26]
"""


def berlin(day: int, hour: int, minute: int = 0) -> datetime:
    month = 11 if day >= 20 else 12
    return datetime(2026, month, day, hour, minute, tzinfo=BERLIN)


def mail(n: int, sender: str, to: str, subject: str, at: datetime, body: str, *,
         answers: int | None = None) -> bytes:  # fmt: skip
    lines = [
        f"From: {sender}",
        f"To: {to}",
        f"Subject: {subject}",
        f"Date: {format_datetime(at)}",
        f"Message-ID: <history-{n}@example.com>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
    ]
    if answers is not None:
        lines += [f"In-Reply-To: <history-{answers}@example.com>", VERIFIED]
    return ("\r\n".join(lines) + "\r\n\r\n" + body.replace("\n", "\r\n") + "\r\n").encode()


HISTORY = [
    mail(1, "dave@example.com", "hr@example.com", "Leave form", berlin(23, 10), "Which one?"),
    mail(2, "alice@example.com", "hr@example.com", "Re: Leave form", berlin(23, 11, 30),
         "Form L-1.", answers=1),
    mail(3, "alice@example.com", "hr@example.com", "Re: Leave form", berlin(24, 10),
         "#resolve\nApproved.", answers=2),
    mail(5, "dave@example.com", "hr@example.com", "Parking permit", berlin(25, 15), "Please."),
    mail(6, "erika@example.com", "hr@example.com", "Payslip", berlin(27, 16), "It is wrong."),
    mail(7, "alice@example.com", "hr@example.com", "Re: Parking permit", berlin(27, 10),
         "On its way.", answers=5),
    mail(8, "alice@example.com", "hr@example.com", "Re: Parking permit", berlin(27, 11),
         "#resolve\nIssued.", answers=7),
    mail(9, "erika@example.com", "hr@example.com", "Laptop bag", berlin(28, 10), "Lost it."),
    mail(10, "dave@example.com", "hr@example.com", "Re: Parking permit", berlin(30, 9, 30),
         "It does not open the gate.", answers=8),
    mail(11, "alice@example.com", "hr@example.com", "Re: Parking permit", berlin(30, 10),
         "#resolve\nReissued.", answers=10),
    mail(12, "bob@example.com", "hr@example.com", "Re: Payslip", berlin(30, 10),
         "#status pending\nCould you send your staff number?", answers=6),
    mail(13, "fred@example.com", "it@example.com", "VPN", berlin(30, 9), "Broken."),
    mail(14, "carol@example.com", "it@example.com", "Re: VPN", berlin(30, 9, 20),
         "Restart it.", answers=13),
    mail(15, "carol@example.com", "it@example.com", "Re: VPN", berlin(30, 13, 20),
         "#resolve\nWorks now.", answers=14),
    mail(16, "erika@example.com", "hr@example.com", "Re: Payslip", berlin(1, 14),
         "It is 4711.", answers=12),
    mail(17, "bob@example.com", "hr@example.com", "Re: Payslip", berlin(2, 11),
         "#resolve\nCorrected.", answers=16),
]  # fmt: skip


@pytest.fixture
def history(
    database_url: str, smtp: ScriptedSmtpServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Runtime]:
    text = ROUTING.read_text(encoding="utf-8")
    old = "    sla: {first_response: 4h, resolution: 3d}\n"
    assert old in text
    new = "    sla: {first_response: 2h, resolution: 16h}\n    calendar: office\n"
    routing = tmp_path / "routing.yaml"
    shipped = text.index("\ncalendars:")  # the last section: HR's office hours instead
    routing.write_text(text[:shipped].replace(old, new) + CALENDAR, encoding="utf-8")
    runtime = runtime_for(database_url, smtp.port, routing_file=routing, authserv_id=AUTHSERV_ID)
    monkeypatch.setenv("ALIASDESK_DATABASE_URL", database_url)
    monkeypatch.setenv("ALIASDESK_ROUTING_FILE", str(routing))
    out = io.StringIO()
    assert import_path(runtime, as_mbox(tmp_path, HISTORY), send_mail=False, out=out) == 0
    # Old mail asked for no feedback, so a rating in it is not taken as one; the ratings
    # are given here as the feedback replies would have recorded them.
    with runtime.db.unit_of_work() as session:
        for number, rating in ((1, 5), (3, 2)):
            ticket = session.scalar(select(Ticket).where(Ticket.number == number))
            assert ticket is not None and ticket.department == "HR"
            ticket.rating = rating
    yield runtime
    runtime.close()


def report(capsys: pytest.CaptureFixture[str], *options: str) -> str:
    assert main(["report", "--since", "2026-11-23", "--until", "2026-12-06", *options]) == 0
    return capsys.readouterr().out


HR = {
    "key": "HR",
    "tickets_in": 4,
    "resolved": 3,
    "backlog": 1,
    "first_response": {"median_s": 7200, "p90_s": 10800},
    "resolution": {"median_s": 25200, "p90_s": 28800},
    "sla_attainment": pytest.approx(2 / 3),
    "reopen_rate": pytest.approx(1 / 3),
    "rating": {
        "average": 3.5,
        "count": 2,
        "response_rate": pytest.approx(2 / 3),
        "distribution": {"1": 0, "2": 1, "3": 0, "4": 0, "5": 1},
    },
}


def test_each_ticket_recorded_its_figures_as_they_happened(
    history: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    with history.db.reader() as session:
        tickets = {t.ref: t for t in session.scalars(select(Ticket))}
    figures = {
        ref: (t.first_response_s, t.resolution_s, t.reopen_count, t.status)
        for ref, t in tickets.items()
    }
    assert figures == {
        "HR-1": (5400, 28800, 0, "resolved"),
        "HR-2": (10800, 14400, 1, "resolved"),
        "HR-3": (7200, 25200, 0, "resolved"),
        "HR-4": (None, None, 0, "new"),
        "IT-1": (1200, 15600, 0, "resolved"),
    }
    assert tickets["HR-2"].resolved_at == berlin(27, 11)  # the first resolution
    assert main(["tickets", "show", "HR-2", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["first_response_s"], shown["resolution_s"], shown["reopen_count"]) == (
        10800,
        14400,
        1,
    )
    assert shown["resolved_at"] == berlin(27, 11).astimezone(UTC).isoformat()
    assert tickets["HR-3"].first_response_at == berlin(30, 10)
    assert tickets["HR-3"].target_first_response_s == 7200
    assert tickets["HR-3"].target_resolution_s == 16 * 3600


def test_report_json_by_department(history: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    data = json.loads(report(capsys, "--json"))
    assert data["since"] == "2026-11-23T00:00:00+00:00"
    assert data["until"] == "2026-12-07T00:00:00+00:00"
    groups = {g["key"]: g for g in data["groups"]}
    assert list(groups) == ["FAC", "FIN", "HR", "IT"]
    assert groups["HR"] == HR
    assert groups["IT"] == {
        "key": "IT",
        "tickets_in": 1,
        "resolved": 1,
        "backlog": 0,
        "first_response": {"median_s": 1200, "p90_s": 1200},
        "resolution": {"median_s": 15600, "p90_s": 15600},
        "sla_attainment": 1.0,
        "reopen_rate": 0.0,
        "rating": {
            "average": None,
            "count": 0,
            "response_rate": 0.0,
            "distribution": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 0},
        },
    }
    assert groups["FAC"]["tickets_in"] == 0 and groups["FAC"]["sla_attainment"] is None
    assert groups["FAC"]["first_response"] == {"median_s": None, "p90_s": None}


def test_report_by_week_in_the_departments_time_zone(
    history: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    data = json.loads(report(capsys, "--department", "hr", "--by", "week", "--json"))
    assert data["since"] == "2026-11-23T00:00:00+01:00"
    weeks = {g["key"]: g for g in data["groups"]}
    assert list(weeks) == ["2026-W48", "2026-W49"]
    w48, w49 = weeks["2026-W48"], weeks["2026-W49"]
    # W48: in HR-1..4; resolved HR-1 and HR-2; answered HR-1 (5400) and HR-2 (10800).
    assert (w48["tickets_in"], w48["resolved"], w48["backlog"]) == (4, 2, 2)
    assert w48["first_response"] == {"median_s": 5400, "p90_s": 10800}
    assert w48["resolution"] == {"median_s": 14400, "p90_s": 28800}
    assert (w48["sla_attainment"], w48["reopen_rate"]) == (0.5, 0.5)
    assert w48["rating"]["average"] == 5.0 and w48["rating"]["response_rate"] == 0.5
    # W49: HR-3 answered and resolved; HR-4 is what is left.
    assert (w49["tickets_in"], w49["resolved"], w49["backlog"]) == (0, 1, 1)
    assert w49["first_response"] == {"median_s": 7200, "p90_s": 7200}
    assert w49["resolution"] == {"median_s": 25200, "p90_s": 25200}
    assert (w49["sla_attainment"], w49["reopen_rate"]) == (1.0, 0.0)
    assert w49["rating"] == {
        "average": 2.0,
        "count": 1,
        "response_rate": 1.0,
        "distribution": {"1": 0, "2": 1, "3": 0, "4": 0, "5": 0},
    }


def test_report_by_month_and_by_owner_add_up(
    history: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    months = json.loads(report(capsys, "--department", "HR", "--by", "month", "--json"))
    assert [(g["key"], g["tickets_in"], g["resolved"], g["backlog"]) for g in months["groups"]] == [
        ("2026-11", 4, 2, 2),
        ("2026-12", 0, 1, 1),
    ]
    owners = json.loads(report(capsys, "--department", "HR", "--by", "owner", "--json"))
    assert sum(g["tickets_in"] for g in owners["groups"]) == 4
    assert {g["key"] for g in owners["groups"]} <= {"alice@example.com", "bob@example.com"}
    with history.db.reader() as session:
        owner = session.scalar(select(Ticket.owner).where(Ticket.number == 4))
    assert owner is not None
    theirs = json.loads(report(capsys, "--owner", owner.upper(), "--json"))
    assert [g["backlog"] for g in theirs["groups"] if g["key"] == "HR"] == [1]


def test_one_department_for_a_report_mail_is_the_reports_group(history: Runtime) -> None:
    with history.db.reader() as session:
        figures = department_figures(session, "HR", berlin(23, 0), berlin(23, 0) + timedelta(14))
    assert figures == HR


def test_table_and_csv(history: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    table = report(capsys, "--department", "HR").splitlines()
    assert table[0] == "HR: 2026-11-23 to 2026-12-06 (Europe/Berlin), business time"
    [hr] = [line for line in table if line.startswith("HR ")]
    assert hr.split() == ["HR", "4", "3", "1", "2h", "/", "3h", "7h", "/", "8h", "67%", "33%",
                          "3.5", "(2", "of", "3)"]  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(report(capsys, "--csv"))))
    [row] = [r for r in rows if r["key"] == "HR"]
    assert row["first_response_median_s"] == "7200" and row["rating_2"] == "1"
    assert row["sla_attainment"].startswith("0.666")


def test_bad_dates_are_usage_errors(history: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--since", "23.11.2026"]) == 2
    assert main(["report", "--since", "2026-12-07", "--until", "2026-12-06"]) == 2
    assert main(["report", "--department", "XX"]) == 2
    assert "no such department" in capsys.readouterr().err
