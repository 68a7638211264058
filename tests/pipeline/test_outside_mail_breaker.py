"""The outside-mail breaker end to end: past ALIASDESK_OUTSIDE_MAIL_PER_MINUTE, automatic
mail to outside addresses is held (still pending, never dropped), the admins are alerted
once per trip, and the held mail goes out by itself when the minute has room again.
Mail to members and admins is never held. Real SMTP server, SQLite and PostgreSQL.

Time moves by moving every stored moment the breaker reads back at once (claims, job
turns, trips): the same as the clock moving forward, without sleeping a minute."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from aliasdesk.db.models import BreakerTrip, Delivery, Job
from aliasdesk.runtime import Runtime
from aliasdesk.services import breaker, health
from aliasdesk.services.delivery_batch import deliver_many
from tests.pipeline.test_conversation import mails_to, text_of
from tests.support.harness import build_mail, drain_jobs, feed, runtime_for
from tests.support.smtp_script import ScriptedSmtpServer

LIMIT = 3
ADMIN = "ops@example.com"
MEMBERS = {"alice@example.com", "bob@example.com"}  # HR's members in config/routing.yaml


@pytest.fixture
def limited(database_url: str, smtp: ScriptedSmtpServer) -> Iterator[Runtime]:
    runtime = runtime_for(database_url, smtp.port, outside_mail_per_minute=LIMIT)
    yield runtime
    runtime.close()
    breaker.set_per_minute(breaker.DEFAULT_PER_MINUTE)


def requests(first: int, count: int) -> list[bytes]:
    return [
        build_mail(sender=f"Requester {n} <requester{n}@example.net>", subject=f"Request {n}")
        for n in range(first, first + count)
    ]


def clock_forward(runtime: Runtime, seconds: float) -> None:
    """Everything the breaker reads happened ``seconds`` earlier (row by row: SQLite has
    no arithmetic on these stored moments)."""
    shift = timedelta(seconds=seconds)
    with runtime.db.unit_of_work() as session:
        for delivery in session.scalars(select(Delivery).where(Delivery.claimed_at.is_not(None))):
            delivery.claimed_at = (delivery.claimed_at or datetime.now(UTC)) - shift
        for job in session.scalars(select(Job)):
            job.available_at -= shift
        for trip in session.scalars(select(BreakerTrip)):
            trip.opened_at, trip.last_held_at = trip.opened_at - shift, trip.last_held_at - shift


def acknowledged(smtp: ScriptedSmtpServer, first: int, count: int) -> list[int]:
    """How many acknowledgements each requester got."""
    return [len(mails_to(smtp, f"requester{n}@example.net")) for n in range(first, first + count)]


def held_in_status(runtime: Runtime) -> dict[str, object]:
    """The breaker as ``aliasdesk status`` shows it; a problem exactly while it holds."""
    document = health.gather(runtime.db, runtime.settings)
    shown = dict(document["outside_mail"])
    problems = [p for p in document["problems"] if p.startswith("outside mail held since")]
    assert len(problems) == (1 if shown["holding"] else 0), document["problems"]
    shown.pop("since", None)
    return shown


def alerts(smtp: ScriptedSmtpServer) -> list[str]:
    return [str(m["Subject"]) for m in mails_to(smtp, ADMIN) if "Outside mail held" in m["Subject"]]


def test_outside_mail_over_the_limit_is_held_alerted_once_and_sent_later(
    limited: Runtime, smtp: ScriptedSmtpServer
) -> None:
    feed(limited, *requests(1, 5))
    drain_jobs(limited, max_wait=2)
    assert acknowledged(smtp, 1, 5) == [1, 1, 1, 0, 0]
    assert len([m for m in MEMBERS for _ in mails_to(smtp, m)]) == 5  # every assignment sent
    [alert] = mails_to(smtp, ADMIN)
    assert alert["Subject"].strip() == (
        f"Outside mail held: more than {LIMIT} automatic mails a minute to outside addresses"
    )
    assert "requester4@example.net" in text_of(alert) and "Nothing is dropped" in text_of(alert)
    now = datetime.now(UTC)
    with limited.db.reader() as session:
        held = session.scalars(select(Delivery).where(Delivery.state != "sent")).all()
        assert sorted(d.recipient for d in held) == [
            "requester4@example.net",
            "requester5@example.net",
        ]
        assert {(d.state, d.attempts) for d in held} == {("pending", 0)}
        turns = session.scalars(select(Job.available_at).where(Job.state != "done")).all()
        assert len(turns) == 2 and all(now < turn <= now + timedelta(seconds=61) for turn in turns)

    assert held_in_status(limited) == {"per_minute": LIMIT, "holding": True, "held": 2}

    feed(limited, *requests(6, 2))  # the flood goes on: held too, in the same trip
    drain_jobs(limited, max_wait=2)
    assert acknowledged(smtp, 1, 7) == [1, 1, 1, 0, 0, 0, 0]

    clock_forward(limited, 61)  # the minute has room for three again
    drain_jobs(limited, max_wait=2)
    assert acknowledged(smtp, 1, 7) == [1, 1, 1, 1, 1, 1, 0]
    clock_forward(limited, 61)
    drain_jobs(limited)
    assert acknowledged(smtp, 1, 7) == [1] * 7
    assert len(alerts(smtp)) == 1
    with limited.db.reader() as session:
        assert set(session.scalars(select(Delivery.state))) == {"sent"}
        [trip] = session.scalars(select(BreakerTrip)).all()
        assert (trip.per_minute, trip.holds) == (LIMIT, 2 + 2 + 1)

    clock_forward(limited, 6 * 60)  # quiet for longer than a trip lasts: a new flood alerts
    assert held_in_status(limited) == {"per_minute": LIMIT, "holding": False}
    feed(limited, *requests(8, 4))
    drain_jobs(limited, max_wait=2)
    assert acknowledged(smtp, 8, 4) == [1, 1, 1, 0]
    assert len(alerts(smtp)) == 2


def test_mail_to_members_and_admins_is_never_held(
    limited: Runtime, smtp: ScriptedSmtpServer
) -> None:
    """Every new request makes one acknowledgement (outside) and one assignment mail
    (a member); with the limit spent, members still get every mail at once."""
    breaker.set_per_minute(1)
    feed(limited, *requests(1, 6))
    drain_jobs(limited, max_wait=2)
    assert sum(len(mails_to(smtp, member)) for member in MEMBERS) == 6
    assert acknowledged(smtp, 1, 6) == [1, 0, 0, 0, 0, 0]
    assert len(alerts(smtp)) == 1
    with limited.db.reader() as session:
        waiting = session.scalars(select(Delivery.recipient).where(Delivery.state == "pending"))
        assert breaker.outside(limited.routing.current(), list(waiting)) == {
            f"requester{n}@example.net" for n in range(2, 7)
        }


def test_no_limit_when_set_to_zero(limited: Runtime, smtp: ScriptedSmtpServer) -> None:
    breaker.set_per_minute(0)
    feed(limited, *requests(1, 6))
    drain_jobs(limited)
    assert acknowledged(smtp, 1, 6) == [1] * 6
    assert alerts(smtp) == []


def test_two_workers_at_once_keep_the_limit_and_alert_once(
    limited: Runtime, smtp: ScriptedSmtpServer, database_url: str
) -> None:
    """Both workers' batches are over the limit: the hold decision is serialised, so the
    second counts what the first handed over, and only one trip is opened."""
    feed(limited, *requests(1, 8))
    with limited.db.reader() as session:
        created = list(session.scalars(select(Job.id).where(Job.kind == "ticket_created")))
    limited.job_runner().run_many(created)  # assigned: acknowledgements queued, none sent
    with limited.db.reader() as session:
        acknowledgements = list(
            session.scalars(
                select(Delivery.id).where(Delivery.kind == "acknowledgement").order_by(Delivery.id)
            )
        )
    assert len(acknowledgements) == 8
    other = runtime_for(database_url, smtp.port, outside_mail_per_minute=LIMIT)
    start = threading.Barrier(2)

    def worker(runtime: Runtime, ids: list[int]) -> None:
        start.wait()
        config = runtime.routing.current()
        deliver_many(runtime.db, ids, runtime.mailer, config, runtime.renderer, "aliasdesk")

    threads = [
        threading.Thread(target=worker, args=(runtime, acknowledgements[n::2]))
        for n, runtime in enumerate((limited, other))
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        other.close()
    assert sum(acknowledged(smtp, 1, 8)) == LIMIT
    with limited.db.reader() as session:
        assert len(session.scalars(select(BreakerTrip)).all()) == 1
        alerts_queued = session.scalars(
            select(Delivery.recipient).where(Delivery.kind == "outside_mail_held")
        ).all()
    assert alerts_queued == [ADMIN]
