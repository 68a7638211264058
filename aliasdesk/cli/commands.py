"""What each ``aliasdesk`` sub-command does; argument parsing lives in aliasdesk.cli.main."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from sqlalchemy.exc import OperationalError

from aliasdesk.cli.processes import RunFolder
from aliasdesk.cli.stopping import stop_event
from aliasdesk.collector import settle_after_start_up
from aliasdesk.db.session import Database
from aliasdesk.runtime import Runtime, build_runtime
from aliasdesk.settings.env import Settings, load_settings

log = logging.getLogger("aliasdesk")


def _settings() -> Settings:
    return load_settings()


def _runtime(*, migrate: bool = True) -> Runtime:
    return build_runtime(_settings(), migrate=migrate)


def serving_runtime(shared: RunFolder | None = None, *, keeps: bool = True) -> Runtime:
    """For the long-running commands, which send mail: every notification kind must render
    before anything starts, so a broken template stops the process instead of each mail.
    ``shared``: the folder where ``run``'s processes share the routing version in force;
    the run process ``keeps`` it there, its job processes start from it. They leave the
    template check (about a second of CPU: every kind in every language) to the run
    process, which made it on the same folder as it started them."""
    from aliasdesk.notify.template_check import require_templates
    from aliasdesk.services.routing_holder import RoutingHolder

    settings = _settings()
    if shared is None or keeps:
        require_templates(settings.template_dir)
    holder = None
    if shared is not None:
        path = Path(settings.routing_file)
        if keeps:
            holder = RoutingHolder(path, keep=shared.rules)
        else:
            holder = RoutingHolder(path, fallback=shared.rules, report_refusals=False)
    runtime = build_runtime(settings, routing=holder)
    settle_after_start_up()
    return runtime


def _database() -> Database:
    """The database alone, for commands that only read: they work while the routing
    file is being fixed. It must exist already (see aliasdesk.db.existing): a wrong URL
    is an error, never a new empty database."""
    from aliasdesk.db.existing import open_existing

    return open_existing(_settings().database_url)


def verbose() -> None:
    """Long-running processes log at ALIASDESK_LOG_LEVEL (default INFO): the gateway's
    own loggers too, where its IMAP login, the server's capabilities and IDLE show."""
    level = _settings().log_level.upper()
    for name in ("aliasdesk", "gateway", "worker"):
        logging.getLogger(name).setLevel(level)


def demo(args: argparse.Namespace) -> int:
    from aliasdesk.cli.demo import run_demo

    return run_demo(serve=args.serve)


def gateway(_args: argparse.Namespace) -> int:
    from gateway.process import run_gateway
    from worker.dispatch import broker_dispatch

    verbose()
    runtime = serving_runtime()
    try:
        dispatch, _broker = broker_dispatch(runtime)
        return run_gateway(runtime, stop_event(), dispatch)
    finally:
        runtime.close()


def worker(args: argparse.Namespace) -> int:
    """A job process of ``run`` (``--parent``) leaves the schema to that process: it
    waits until the schema is current instead of migrating alongside it."""
    from aliasdesk.cli.processes import outlive_never, wait_for_rules, wait_for_schema
    from aliasdesk.relay import CLAIM_BATCH, ClaimSize, Share
    from aliasdesk.services.languages import warm_up
    from worker.process import run_worker

    stop = stop_event()
    if args.parent:
        outlive_never(args.parent, stop, Path(args.shared) if args.shared else None)
    verbose()
    shared = RunFolder(Path(args.shared)) if args.shared else None
    if args.parent:
        settings = _settings()
        if not wait_for_schema(settings.database_url, stop):
            return 0
        if shared is not None and not wait_for_rules(shared, stop):
            return 0
    # A job process of ``run``: its parent does the rounds and reports refusals.
    runtime = serving_runtime(shared, keeps=False)
    share = Share.JOBS if args.parent else Share.ALL
    try:
        if shared is not None:
            warm_up()  # the language model loads before the first job, not during it
        claims = ClaimSize(args.batch or CLAIM_BATCH, args.sharers or 1)
        return run_worker(runtime, stop, claims, share)
    finally:
        runtime.close()


def web(_args: argparse.Namespace) -> int:
    """The ticket pages, on 127.0.0.1:ALIASDESK_WEB_PORT. The key is checked before the
    database is opened, so a missing one is a configuration error (exit 2)."""
    from aliasdesk.services.routing_holder import RoutingHolder
    from aliasdesk.settings.web import required_secret_key
    from web.server import serve_forever, web_context

    verbose()
    logging.getLogger("web").setLevel(_settings().log_level.upper())
    settings = _settings()
    required_secret_key(settings)
    db = _database()
    try:
        context = web_context(settings, db, RoutingHolder(Path(settings.routing_file)))
        settle_after_start_up()
        log.info("event=web_start port=%d", settings.web_port)
        serve_forever(context, settings.web_port)
    finally:
        db.dispose()
    return 0


def lmtp(args: argparse.Namespace) -> int:
    from aliasdesk.cli.lmtp import run_lmtp
    from worker.dispatch import broker_dispatch

    verbose()
    port = args.port or _settings().lmtp_port
    if not port or not 0 < port < 65536:
        print("aliasdesk lmtp: set ALIASDESK_LMTP_PORT or give --port (1-65535)", file=sys.stderr)
        return 2
    runtime = serving_runtime()
    try:
        dispatch, _broker = broker_dispatch(runtime)
        return run_lmtp(runtime, stop_event(), dispatch, host=args.host, port=port)
    finally:
        runtime.close()


def db_upgrade(_args: argparse.Namespace) -> int:
    from aliasdesk.db import schema
    from aliasdesk.db.existing import unreachable
    from aliasdesk.db.session import Database
    from aliasdesk.db.unavailable import DatabaseUnavailable

    settings = _settings()
    database = Database(settings.database_url)
    try:
        schema.upgrade(database)
    except OperationalError as error:
        raise DatabaseUnavailable(unreachable(settings.database_url, error)) from error
    finally:
        database.dispose()
    print(f"schema is current on {database.engine.dialect.name}")
    return 0


def rules(args: argparse.Namespace) -> int:
    from aliasdesk.cli.read import rules_check, rules_explain

    if args.rules_command == "check":
        return rules_check(args.file)
    return rules_explain(Path(args.mail), as_json=args.json)


def tickets(args: argparse.Namespace) -> int:
    from aliasdesk.cli.read import tickets_list, tickets_show

    if args.tickets_command == "list":
        return tickets_list(
            _database(), args.department, args.status, as_json=args.json, limit=args.limit
        )
    return tickets_show(_database(), args.ref, as_json=args.json)


def quarantine(args: argparse.Namespace) -> int:
    from aliasdesk.cli.deliveries import quarantine_dismiss
    from aliasdesk.cli.read import quarantine_list
    from aliasdesk.services.quarantine import retry

    if args.quarantine_command == "list":
        return quarantine_list(_database(), as_json=args.json)
    if args.quarantine_command == "dismiss":
        return quarantine_dismiss(_database(), args.ids)
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
    from aliasdesk.cli.read import mail_list

    return mail_list(_database(), args.limit, as_json=args.json)


def import_mail(args: argparse.Namespace) -> int:
    from aliasdesk.cli.importing import import_path

    runtime = _runtime()
    settle_after_start_up()
    return import_path(runtime, Path(args.path), send_mail=not args.no_mail)


def status(args: argparse.Namespace) -> int:
    from aliasdesk.cli.status import show_status

    settings = _settings()
    return show_status(_database(), settings, as_json=args.json)


def deliveries(args: argparse.Namespace) -> int:
    from aliasdesk.cli import deliveries as handle

    db = _database()
    if args.deliveries_command == "list":
        return handle.deliveries_list(db, failed=args.failed, as_json=args.json)
    if args.deliveries_command == "retry":
        return handle.deliveries_retry(db, args.ids)
    return handle.deliveries_dismiss(db, args.ids)


def attachments(args: argparse.Namespace) -> int:
    from aliasdesk.cli.attachments import attachments_get

    return attachments_get(_database(), args.ref, args.n, Path(args.output), force=args.force)


def report(args: argparse.Namespace) -> int:
    """Without a usable routing file the figures are still there, counted in UTC days."""
    from aliasdesk.cli.report import run_report
    from aliasdesk.settings.errors import RoutingFileError
    from aliasdesk.settings.routing_file import load_routing

    try:
        config = load_routing(_settings().routing_file)
    except RoutingFileError:
        print(
            "aliasdesk report: the routing file is not usable (see aliasdesk rules check); "
            "days are counted in UTC",
            file=sys.stderr,
        )
        config = None
    args.by = args.by or "department"
    return run_report(_database(), config, args)


def privacy(args: argparse.Namespace) -> int:
    from aliasdesk.cli.privacy import privacy_erase, privacy_export

    if args.privacy_command == "export":
        output = Path(args.output) if args.output else None
        return privacy_export(_database(), args.address, output)
    runtime = _runtime(migrate=False)
    try:
        return privacy_erase(runtime.db, runtime.routing.current(), args.address)
    finally:
        runtime.close()
