"""Cost of building one outgoing notification with ``compose``, per mail shape.

Every acknowledgement and update goes through ``compose``, so its cost is paid once per
notification (two per request in the usual flow). Prints the median microseconds per mail
for a few typical shapes. With ``--baseline FILE`` another implementation of ``compose``
(a module file defining it with the same signature) is timed in the same run, interleaved
round by round, so the ratio is not skewed by a busy machine.

Run: ``.venv/bin/python -m bench.compose_speed [--rounds N] [--baseline FILE]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aliasdesk.mail.compose import compose

PER_ROUND = 200

_TEXT = (
    "Hallo Jürgen,\n\nvielen Dank für deine Anfrage zum Urlaub vom 6. bis 10. Mai. Sie hat\n"
    "die Nummer HR-4242 und wird von Alice Schmidt bearbeitet.\n\n"
    "Bitte antworte auf diese Mail, wenn du etwas ergänzen möchtest; die Antwort\n"
    "landet automatisch im selben Vorgang.\n\n"
)
_HTML = (
    "<p>Hallo Jürgen,</p>\n<p>vielen Dank für deine Anfrage zum Urlaub vom 6. bis 10. Mai.\n"
    "Sie hat die Nummer <b>HR-4242</b> und wird von Alice Schmidt bearbeitet.</p>\n"
    "<p>Bitte antworte auf diese Mail, wenn du etwas ergänzen möchtest.</p>\n"
)


def _typical(**changes: Any) -> dict[str, Any]:
    """An acknowledgement as aliasdesk sends it: text + HTML of about 1.5 KB each."""
    arguments: dict[str, Any] = {
        "from_address": "hr@example.com",
        "from_name": "Personalabteilung",
        "to": ["juergen@example.com"],
        "subject": "[HR-4242] Re: Urlaubsantrag für Mai – Bestätigung",
        "text": _TEXT * 5,
        "html": _HTML * 5,
        "message_id": "<delivery-4242-ack@example.com>",
        "in_reply_to": "<CAF=request-4242@mail.example.org>",
        "references": ["<CAF=request-4242@mail.example.org>"],
        "auto_submitted": "auto-replied",
        "reply_to": "hr@example.com",
        "extra_headers": {"X-Aliasdesk-Loop": "aliasdesk-1"},
        "date": datetime(2025, 5, 6, 9, 0, tzinfo=UTC),
    }
    arguments.update(changes)
    return arguments


SHAPES: dict[str, dict[str, Any]] = {
    "typical: text+html, UTF-8 subject": _typical(),
    "ASCII text only, short": _typical(
        subject="[HR-4242] Leave request received", text="Thanks, we have it.\n" * 5, html=None
    ),
    "long thread: 20 references": _typical(
        references=[f"<reply-{n}-4242@mail.example.org>" for n in range(40)],
        subject="[HR-4242] Re: Re: Re: " + "Urlaubsantrag für Mai und Juni " * 4,
    ),
    "with a 100 KB attachment": _typical(
        attachments=[("Übersicht.pdf", "application/pdf", bytes(range(256)) * 400)]
    ),
}

Compose = Callable[..., bytes]


def load_baseline(path: Path) -> Compose:
    """``compose`` from a module file outside the package, e.g. an earlier version."""
    spec = importlib.util.spec_from_file_location("compose_baseline", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    function: Compose = module.compose
    return function


def per_mail_us(function: Compose, arguments: dict[str, Any]) -> float:
    started = time.perf_counter()
    for _ in range(PER_ROUND):
        function(**arguments)
    return (time.perf_counter() - started) / PER_ROUND * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--baseline", type=Path, help="a module file defining compose()")
    args = parser.parse_args()
    contenders: dict[str, Compose] = {"current": compose}
    if args.baseline is not None:
        contenders["baseline"] = load_baseline(args.baseline)
    for shape, arguments in SHAPES.items():
        timings: dict[str, list[float]] = {name: [] for name in contenders}
        for function in contenders.values():
            function(**arguments)  # warm-up: imports, compiled patterns, caches
        for _ in range(args.rounds):
            for name, function in contenders.items():
                timings[name].append(per_mail_us(function, arguments))
        medians = {name: statistics.median(values) for name, values in timings.items()}
        line = f"{shape:<36} current {medians['current']:8.1f} µs/mail"
        if "baseline" in medians:
            ratio = medians["baseline"] / medians["current"]
            line += f"   baseline {medians['baseline']:8.1f} µs/mail   {ratio:5.1f}× faster"
        print(line, flush=True)


if __name__ == "__main__":
    main()
