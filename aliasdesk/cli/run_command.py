"""``aliasdesk run``, kept apart from the other commands so that its job processes start
before this process imports the rest of aliasdesk.

Importing the commands, the runtime and the pipeline costs about a second of CPU. Started
after that, a job process (which imports as much again) was still starting when this
process took its first mail, and the first bursts of jobs fell to this process alone.
Here only the standard library and ``cli.processes`` are loaded before they are spawned.
"""

from __future__ import annotations

import argparse

from aliasdesk.cli.processes import default_processes, job_processes


def run(args: argparse.Namespace) -> int:
    """This process takes the mail in, does the rounds and runs jobs; its job processes
    run jobs. They start at once, beside this one's own start-up, so they are ready (the
    language model loaded) when the first mail is: each waits until this process has the
    schema current and the rules in force copied for it. ``--once`` is always one
    process: what it finds waiting is one pass's work."""
    others = 0 if args.once else (args.processes or default_processes()) - 1
    with job_processes(others) as helpers:
        if helpers is not None:
            helpers.start()  # they start alongside: each waits for the schema and the rules
        from aliasdesk.cli.commands import serving_runtime, verbose
        from aliasdesk.cli.run import run_all
        from aliasdesk.cli.stopping import stop_event

        if not args.once:
            verbose()
        runtime = serving_runtime(helpers.folder if helpers is not None else None)
        try:
            stop = None if args.once else stop_event()
            return run_all(runtime, once=args.once, stop=stop, helpers=helpers)
        finally:
            runtime.close()
