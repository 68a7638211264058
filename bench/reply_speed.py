"""How long reply extraction takes on large and hostile bodies.

Reply extraction runs once per inbound reply in the worker, so it must stay in the
low milliseconds even for long threads (target: under 5 ms for a 50 KB reply) and must not
be stalled by input built to make regular expressions backtrack. Prints the median time
(wall clock, and CPU time of this process) of repeated runs for:

* a generated 50 KB top-posted reply over a long quoted thread (many reply headers,
  Outlook blocks, nested quotes, signatures),
* the same size written inline between quotes (the slower, line-by-line path: every
  quoted block up to the last answer is kept),
* a 50 KB reply over unquoted history in several languages (Gmail's Ukrainian, Korean
  and Hebrew headers with direction marks, Outlook's Japanese header block, zero-width
  and no-break spaces), where every line has to be looked at as a possible header,
* the corpus ReDoS trap ``reply-parser-github/emails/pathological.txt`` and the 0.75 MB
  ``email_long_quote.txt``, when ``../shared/corpus`` is present.

Run: ``.venv/bin/python bench/reply_speed.py [--repeat N]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from aliasdesk.mail.reply import extract_reply

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
TARGET_BYTES = 50_000


def _thread_turn(turn: int, depth: int) -> str:
    quote = "> " * depth
    return (
        f"{quote}On Mon, Feb {turn % 28 + 1}, 2025 at 9:{turn % 60:02d} AM, Requester {turn} "
        f"<requester{turn}@example.org> wrote:\n"
        f"{quote}\n"
        f"{quote}The printer on floor {turn} still jams after the toner change; could\n"
        f"{quote}someone from IT have a look before Friday? Ticket HR-{turn}.\n"
        f"{quote}\n"
        f"{quote}From: IT Support <it@example.com>\n"
        f"{quote}Sent: Monday, February 3, 2025 9:14 AM\n"
        f"{quote}Subject: RE: [IT-{turn}] Printer\n"
        f"{quote}\n"
        f"{quote}-- \n{quote}IT Support, extension {turn}\n{quote}\n"
    )


def top_posted_reply() -> str:
    parts = ["Thanks, the printer works again.\n\nSent from my iPhone\n\n"]
    turn = 0
    while sum(len(part) for part in parts) < TARGET_BYTES:
        parts.append(_thread_turn(turn, depth=1 + turn % 4))
        turn += 1
    return "".join(parts)


def inline_reply() -> str:
    parts = ["On Mon, Feb 3, 2025 at 9:14 AM, IT <it@example.com> wrote:\n"]
    turn = 0
    while sum(len(part) for part in parts) < TARGET_BYTES:
        parts.append(f"> Question {turn}: does the badge reader on door {turn} work?\n\n")
        parts.append(f"Answer {turn}: yes, since {turn % 12 + 1}:00 this morning.\n\n")
        turn += 1
    return "".join(parts)


_FOREIGN_HEADERS = (
    "пн, 3 бер. 2025 р. о 09:{minute:02d} Олена <olena{turn}@example.org> пише:",
    "2025년 3월 3일 (월) 오전 9:{minute:02d}, 민수 <minsu{turn}@example.org>님이 작성:",
    "בתאריך יום ב׳, 3 במרץ 2025 ב-9:{minute:02d} מאת \u200fDana\u200f <dana{turn}@example.org>:",
    "差出人: 田中 <tanaka{turn}@example.org>\n送信日時: 2025年3月3日 9:{minute:02d}\n件名: PC",
)


def multilingual_reply() -> str:
    parts = ["Дякую, все працює.\u200b\n\u00a0\n"]
    turn = 0
    while sum(len(part) for part in parts) < TARGET_BYTES:
        header = _FOREIGN_HEADERS[turn % len(_FOREIGN_HEADERS)]
        parts.append(header.format(minute=turn % 60, turn=turn) + "\n\n")
        parts.append(f"Принтер на поверсі {turn} знову не друкує, подивіться, будь ласка.\n\n")
        turn += 1
    return "".join(parts)


def median_ms(run: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median wall-clock and median CPU milliseconds of ``repeat`` runs.

    Both are printed: on a busy machine the wall clock also counts time the process
    waited for a core, which the CPU time leaves out.
    """
    run()  # warm-up: compiled patterns, caches
    wall, cpu = [], []
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        run()
        cpu.append((time.process_time() - started_cpu) * 1000)
        wall.append((time.perf_counter() - started) * 1000)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()

    bodies = {
        "50 KB top-posted reply": top_posted_reply(),
        "50 KB inline reply": inline_reply(),
        "50 KB multilingual reply": multilingual_reply(),
    }
    for name in ("pathological.txt", "email_long_quote.txt"):
        path = CORPUS / "reply-parser-github" / "emails" / name
        if path.is_file():
            bodies[name] = path.read_text("utf-8")
        else:
            print(f"{name}: skipped ({path} not found)")

    for name, body in bodies.items():
        wall, cpu = median_ms(lambda body=body: extract_reply(body), args.repeat)  # type: ignore[misc]
        print(f"{name:<26} {len(body) / 1000:>8.1f} KB  median {wall:7.3f} ms (CPU {cpu:7.3f} ms)")


if __name__ == "__main__":
    main()
