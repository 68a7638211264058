"""What each ``aliasdesk`` sub-command does; argument parsing lives in aliasdesk.cli."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from aliasdesk.db.session import Database
from aliasdesk.runtime import Runtime, build_runtime
from aliasdesk.settings.env import Settings, load_settings

log = logging.getLogger("aliasdesk")


def _settings() -> Settings:
    return load_settings()


def _runtime(*, migrate: bool = True) -> Runtime:
    return build_runtime(_settings(), migrate=migrate)


def _database() -> Database:
    """The database alone, for commands that only read: they work while the routing
    file is being fixed, and they create or migrate the schema like every command."""
    from aliasdesk.db import schema

    db = Database(_settings().database_url)
    schema.upgrade(db)
    return db


def _stop_event() -> threading.Event:
    stop = threading.Event()

    def _handle(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _handle)
    signal.signal(signal.SIGINT, _handle)
    return stop


def _verbose() -> None:
    logging.getLogger("aliasdesk").setLevel(logging.INFO)


def demo(args: argparse.Namespace) -> int:
    from gateway.demo import run_demo

    return run_demo(serve=args.serve)


def run(args: argparse.Namespace) -> int:
    from gateway.process import run_all

    if not args.once:
        _verbose()
    runtime = _runtime()
    try:
        return run_all(runtime, once=args.once, stop=None if args.once else _stop_event())
    finally:
        runtime.close()


def gateway(_args: argparse.Namespace) -> int:
    from gateway.process import run_gateway

    _verbose()
    runtime = _runtime()
    try:
        return run_gateway(runtime, _stop_event())
    finally:
        runtime.close()


def worker(_args: argparse.Namespace) -> int:
    from worker.process import run_worker

    _verbose()
    runtime = _runtime()
    try:
        return run_worker(runtime, _stop_event())
    finally:
        runtime.close()


def db_upgrade(_args: argparse.Namespace) -> int:
    from aliasdesk.db import schema
    from aliasdesk.db.session import Database

    settings = _settings()
    database = Database(settings.database_url)
    schema.upgrade(database)
    print(f"schema is current on {database.engine.dialect.name}")
    return 0


def rules(args: argparse.Namespace) -> int:
    from aliasdesk.commands_read import rules_check, rules_explain

    if args.rules_command == "check":
        return rules_check(args.file)
    return rules_explain(Path(args.mail), as_json=args.json)


def tickets(args: argparse.Namespace) -> int:
    from aliasdesk.commands_read import tickets_list, tickets_show

    if args.tickets_command == "list":
        return tickets_list(
            _database(), args.department, args.status, as_json=args.json, limit=args.limit
        )
    return tickets_show(_database(), args.ref, as_json=args.json)


def quarantine(args: argparse.Namespace) -> int:
    from aliasdesk.commands_read import quarantine_list
    from aliasdesk.services.quarantine import retry

    if args.quarantine_command == "list":
        return quarantine_list(_database(), as_json=args.json)
    runtime = _runtime()
    if not args.all and not args.ids:
        print("aliasdesk quarantine retry: name IDs or --all", file=sys.stderr)
        return 2
    results = retry(
        runtime.db,
        None if args.all else args.ids,
        runtime.routing.current,
        runtime.pipeline_settings,
    )
    for result in results:
        refs = ", ".join(result.ticket_refs) or "-"
        print(f"#{result.inbound_id}: {result.outcome} {refs} ({result.reason})")
    if not results:
        print("nothing to retry")
    return 0


def mail(args: argparse.Namespace) -> int:
    from aliasdesk.commands_read import mail_list

    return mail_list(_database(), args.limit, as_json=args.json)


def import_mail(args: argparse.Namespace) -> int:
    from aliasdesk.services.importer import import_path

    runtime = _runtime()
    return import_path(runtime, Path(args.path), send_mail=not args.no_mail)


def status(_args: argparse.Namespace) -> int:
    from aliasdesk.commands_read import show_status

    return show_status(_database())
