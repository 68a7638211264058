"""Admin alerts: one mail per quarantined mail, one per refused version of the routing
file, to the admins of the rules in force; never to the quarantined mail's sender."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from aliasdesk.db.models import Delivery
from aliasdesk.runtime import Runtime
from tests.pipeline.test_conversation import mails_to, text_of
from tests.support.harness import ROUTING, build_mail, drain_jobs, feed, runtime_for
from tests.support.smtp_script import ScriptedSmtpServer

OPS = "ops@example.com"
SEC = "sec@example.com"


@pytest.fixture
def routing_file(tmp_path: Path) -> Path:
    """The stock routing file with a second admin."""
    path = tmp_path / "routing.yaml"
    text = ROUTING.read_text(encoding="utf-8")
    assert "admins: [ops@example.com]" in text
    path.write_text(text.replace("admins: [ops@example.com]", f"admins: [{OPS}, {SEC}]"))
    return path


@pytest.fixture
def admin_runtime(
    database_url: str, smtp: ScriptedSmtpServer, routing_file: Path
) -> Iterator[Runtime]:
    runtime = runtime_for(database_url, smtp.port, routing_file=routing_file)
    yield runtime
    runtime.close()


def test_each_quarantined_mail_alerts_every_admin_once(
    admin_runtime: Runtime, smtp: ScriptedSmtpServer, database_url: str, routing_file: Path
) -> None:
    stray = build_mail(to="nobody@elsewhere.example", message_id="<stray-1@example.net>")
    [result] = feed(admin_runtime, stray)
    assert result.outcome == "quarantined"
    drain_jobs(admin_runtime)
    feed(admin_runtime, stray)  # the same mail again: a duplicate, not a second quarantine
    drain_jobs(admin_runtime)
    restarted = runtime_for(database_url, smtp.port, routing_file=routing_file)
    try:
        drain_jobs(restarted)
    finally:
        restarted.close()
    for admin in (OPS, SEC):
        [alert] = mails_to(smtp, admin)
        assert alert["Subject"].strip().startswith(f"Quarantined mail #{result.inbound_id}")
        assert alert["Auto-Submitted"] == "auto-generated"
        assert alert["From"].addresses[0].addr_spec == "aliasdesk-noreply@example.com"
        text = text_of(alert)
        assert f"aliasdesk quarantine retry {result.inbound_id}" in text
        assert "<stray-1@example.net>" in text and result.reason in text
    assert mails_to(smtp, "dave@example.com") == []

    [second] = feed(admin_runtime, build_mail(to="nobody@elsewhere.example", subject="again"))
    drain_jobs(admin_runtime)
    assert [m["Subject"].strip().split(":")[0] for m in mails_to(smtp, OPS)] == [
        f"Quarantined mail #{result.inbound_id}",
        f"Quarantined mail #{second.inbound_id}",
    ]


def test_the_quarantined_sender_is_never_alerted_even_as_an_admin(
    admin_runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    [result] = feed(admin_runtime, build_mail(sender=f"Sec <{SEC}>", to="x@elsewhere.example"))
    assert result.outcome == "quarantined"
    drain_jobs(admin_runtime)
    assert mails_to(smtp, SEC) == []
    assert len(mails_to(smtp, OPS)) == 1
    with admin_runtime.db.reader() as session:
        rows = session.scalars(select(Delivery)).all()
    assert [(d.kind, d.recipient, d.state, d.ticket_id) for d in rows] == [
        ("quarantine_alert", OPS, "sent", None)
    ]


def _rewrite(path: Path, text: str) -> None:
    """Write and make sure the modification time moves, however coarse the file system."""
    before = path.stat().st_mtime_ns
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(before + 2_000_000_000, before + 2_000_000_000))


def test_a_refused_routing_file_alerts_the_admins_of_the_rules_in_force_once(
    admin_runtime: Runtime, smtp: ScriptedSmtpServer, routing_file: Path
) -> None:
    admin_runtime.routing.check_every = 0
    good = routing_file.read_text(encoding="utf-8")
    bad = good.replace(f"admins: [{OPS}, {SEC}]", "admins: [newadmin@example.com]").replace(
        "assignment: least_loaded", "assignment: whoever_is_free"
    )
    _rewrite(routing_file, bad)
    drain_jobs(admin_runtime)
    drain_jobs(admin_runtime)
    assert mails_to(smtp, "newadmin@example.com") == []
    for admin in (OPS, SEC):
        [alert] = mails_to(smtp, admin)
        assert alert["Subject"].strip() == f"Routing file refused: 1 problem in {routing_file}"
        text = text_of(alert)
        assert f"{routing_file}:" in text and "departments.IT.assignment" in text
        assert f"aliasdesk rules check {routing_file}" in text
    assert admin_runtime.routing.current().admins == (OPS, SEC)  # the old rules stay

    _rewrite(routing_file, good)  # fixed: no alert, the refusal is over
    drain_jobs(admin_runtime)
    assert admin_runtime.routing.refusal is None
    _rewrite(routing_file, good.replace("multi_department: each", "multi_department: all"))
    drain_jobs(admin_runtime)
    subjects = [m["Subject"].strip() for m in mails_to(smtp, OPS)]
    assert len(subjects) == 2 and all(s.startswith("Routing file refused") for s in subjects)
    assert "multi_department" in text_of(mails_to(smtp, OPS)[1])
