"""The ``aliasdesk`` command (CONTRACT §1). Exit codes: 0 ok, 1 runtime failure, 2 bad
usage or configuration. Only this module (and ``__main__``) exits the process."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from aliasdesk import __version__
from aliasdesk.cli.processes import positive, row_id
from aliasdesk.private_files import restrict_process
from aliasdesk.settings.errors import ConfigurationError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
Handler = Callable[[argparse.Namespace], int]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aliasdesk", description="Department mail aliases turned into owned tickets."
    )
    parser.add_argument("--version", action="version", version=f"aliasdesk {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _service_parsers(sub)
    _record_parsers(sub)
    _report_parser(sub)
    _privacy_parser(sub)
    return parser


if TYPE_CHECKING:
    _Sub = argparse._SubParsersAction[argparse.ArgumentParser]


def _service_parsers(sub: _Sub) -> None:
    """The commands that run a part of the service, and the ones that set it up."""
    demo = sub.add_parser("demo", help="the whole system on embedded parts, with a story")
    demo.add_argument("--serve", action="store_true", help="keep running and accept mail")
    run = sub.add_parser("run", help="gateway and worker, in N processes")
    run.add_argument("--once", action="store_true", help="process what is waiting, then exit")
    run.add_argument(
        "--processes",
        type=positive,
        metavar="N",
        help="processes running jobs, the first also taking mail in (default: the cores)",
    )
    sub.add_parser("gateway", help="only the IMAP side")
    worker = sub.add_parser("worker", help="only the workers")
    # Set by ``run --processes``: stop when that process is gone.
    worker.add_argument("--parent", type=int, help=argparse.SUPPRESS)
    worker.add_argument("--batch", type=positive, help=argparse.SUPPRESS)  # jobs per claim
    worker.add_argument("--sharers", type=positive, help=argparse.SUPPRESS)  # processes
    # Set by ``run --processes``: the folder it shares with its job processes.
    worker.add_argument("--shared", help=argparse.SUPPRESS)
    sub.add_parser("web", help="the requesters' ticket pages (ALIASDESK_WEB_URL)")
    lmtp = sub.add_parser("lmtp", help="take mail from the MTA over LMTP")
    lmtp.add_argument("--port", type=int, help="default: ALIASDESK_LMTP_PORT")
    lmtp.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    db = sub.add_parser("db", help="database schema")
    db.add_argument("action", choices=["upgrade"])


def _record_parsers(sub: _Sub) -> None:
    """The commands that read or act on what aliasdesk holds: rules, tickets, mail."""
    rules = sub.add_parser("rules", help="check or explain routing")
    rules_sub = rules.add_subparsers(dest="rules_command", required=True)
    check = rules_sub.add_parser("check", help="validate a routing file")
    check.add_argument("file", nargs="?")
    explain = rules_sub.add_parser("explain", help="what would happen to a mail, and why")
    explain.add_argument("mail")
    explain.add_argument("--json", action="store_true")
    tickets = sub.add_parser("tickets", help="list or show tickets")
    tickets_sub = tickets.add_subparsers(dest="tickets_command", required=True)
    listing = tickets_sub.add_parser("list")
    listing.add_argument("--json", action="store_true")
    listing.add_argument("--department")
    listing.add_argument("--status", choices=["new", "open", "pending", "resolved", "closed"])
    listing.add_argument("--limit", type=positive, help="only the newest N (default: all)")
    show = tickets_sub.add_parser("show")
    show.add_argument("ref")
    show.add_argument("--json", action="store_true")
    quarantine = sub.add_parser("quarantine", help="mail that could not become work")
    q_sub = quarantine.add_subparsers(dest="quarantine_command", required=True)
    q_list = q_sub.add_parser("list")
    q_list.add_argument("--json", action="store_true")
    q_retry = q_sub.add_parser("retry")
    q_retry.add_argument("ids", nargs="*", type=row_id)
    q_retry.add_argument("--all", action="store_true")
    q_dismiss = q_sub.add_parser("dismiss", help="keep the raw mail, stop counting it")
    q_dismiss.add_argument("ids", nargs="+", type=row_id)
    mail = sub.add_parser("mail", help="the inbound log")
    mail_sub = mail.add_subparsers(dest="mail_command", required=True)
    m_list = mail_sub.add_parser("list")
    m_list.add_argument("--json", action="store_true")
    m_list.add_argument("--limit", type=positive, default=100)
    importer = sub.add_parser("import", help="backfill from mbox, Maildir or .eml files")
    importer.add_argument("path")
    importer.add_argument("--no-mail", action="store_true", help="send no mail for old mail")
    status = sub.add_parser("status", help="health summary; exit 1 when something needs attention")
    status.add_argument("--json", action="store_true")
    deliveries = sub.add_parser("deliveries", help="outgoing mail and what became of it")
    d_sub = deliveries.add_subparsers(dest="deliveries_command", required=True)
    d_list = d_sub.add_parser("list")
    d_list.add_argument("--json", action="store_true")
    d_list.add_argument("--failed", action="store_true", help="only failed deliveries")
    for action, text in (("retry", "send again, same Message-ID"), ("dismiss", "stop counting")):
        d_sub.add_parser(action, help=text).add_argument("ids", nargs="+", type=row_id)
    files = sub.add_parser("attachments", help="save a ticket's attachment")
    get = files.add_subparsers(dest="attachments_command", required=True).add_parser("get")
    get.add_argument("ref")
    get.add_argument("n", type=row_id, help="its number in tickets show")
    get.add_argument("-o", "--output", required=True, help="the file to write (mode 0600)")
    get.add_argument("-f", "--force", action="store_true", help="replace an existing file")


def _privacy_parser(sub: _Sub) -> None:
    privacy = sub.add_parser("privacy", help="what is held about a person: export or erase it")
    p_sub = privacy.add_subparsers(dest="privacy_command", required=True)
    export = p_sub.add_parser("export", help="JSON and files of everything held about them")
    export.add_argument("address")
    export.add_argument("-o", "--output", help="a new or empty folder to write (mode 0700)")
    p_sub.add_parser("erase", help="anonymise it now").add_argument("address")


def _report_parser(sub: _Sub) -> None:
    report = sub.add_parser("report", help="service figures in business time")
    report.add_argument("--department", metavar="KEY")
    report.add_argument("--owner", metavar="ADDR")
    report.add_argument("--since", metavar="DATE", help="first day (default: 30 days ago)")
    report.add_argument("--until", metavar="DATE", help="last day, included (default: today)")
    report.add_argument("--by", choices=["department", "owner", "week", "month"])
    form = report.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true")
    form.add_argument("--csv", action="store_true")


def _handler(command: str) -> Handler:
    """The command's function; ``run`` is looked up without importing the other commands
    (see aliasdesk.cli.run_command)."""
    if command == "run":
        from aliasdesk.cli.run_command import run

        return run
    return _handlers()[command]


def _handlers() -> dict[str, Handler]:
    from aliasdesk.cli import commands

    return {
        "demo": commands.demo,
        "gateway": commands.gateway,
        "worker": commands.worker,
        "web": commands.web,
        "lmtp": commands.lmtp,
        "db": commands.db_upgrade,
        "rules": commands.rules,
        "tickets": commands.tickets,
        "quarantine": commands.quarantine,
        "mail": commands.mail,
        "import": commands.import_mail,
        "status": commands.status,
        "deliveries": commands.deliveries,
        "attachments": commands.attachments,
        "report": commands.report,
        "privacy": commands.privacy,
    }


def without_passwords(message: str) -> str:
    """A driver's error may quote the password of the URL it was given: every configured
    URL's password is masked out of what the command prints."""
    from aliasdesk.settings.environment import configured_urls
    from aliasdesk.settings.url_secrets import hide_passwords

    return hide_passwords(message, *configured_urls())


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    restrict_process()  # every file aliasdesk makes is its own user's only
    from aliasdesk.db.unavailable import DatabaseUnavailable

    logging.basicConfig(
        level=logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    try:
        code = _handler(args.command)(args)
        sys.stdout.flush()  # a closed pipe shows here, where it is answered, not at exit
        return code
    except ConfigurationError as error:
        for line in error.describe():
            print(line, file=sys.stderr)
        return EXIT_USAGE
    except DatabaseUnavailable as error:
        print(f"aliasdesk: {without_passwords(str(error))}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_OK
    except BrokenPipeError:
        # The reader went away (``aliasdesk tickets list | head``): nothing left to say.
        # What Python would still flush into the closed pipe goes nowhere instead.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as error:  # the last line of defence: one clear line, exit 1
        logging.getLogger("aliasdesk").debug("fatal", exc_info=True)
        print(
            f"aliasdesk: {type(error).__name__}: {without_passwords(str(error))}", file=sys.stderr
        )
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
