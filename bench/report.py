"""The bench's summary: one table of figures against their targets, and the change since
the previous run.

Next to each throughput it prints where the CPU went (milliseconds per mail for each
process group, see ``bench.instruments``), because on this 2-core machine that is what
decides whether a missed target is a cost aliasdesk can still cut or a core it cannot have.
"""

from __future__ import annotations

from typing import Any

from bench import helpdesk_peer
from bench.aliasdesk_runs import PG1, PG2, SQLITE, SQLITE2

CORES = 2  # the machine kind the targets are set for


def cpu_rows(r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Per contender: CPU per mail, split by process group, and the ceiling it implies.

    The ceiling is what this many milliseconds of CPU per mail would allow if every core
    did nothing else (the "other" group, unrelated load on the machine, is not charged).
    For ``aliasdesk run`` and the bare loop the tighter bound is their own process, which
    one core caps.
    """
    rows: list[tuple[str, str, str, str]] = []
    for label, groups in r.get("cpu_ms_per_mail", {}).items():
        # "other" is whatever else the machine ran meanwhile: shown, never charged
        total = sum(ms for g, ms in groups.items() if g != "other")
        if total <= 0:
            continue
        split = ", ".join(f"{g} {ms:.1f}" for g, ms in groups.items() if ms >= 0.05)
        rows.append((f"CPU per mail [{label}]", f"{total:.1f} ms", "", split))
        own = {g: ms for g, ms in groups.items() if g in {"run", "bare", "gateway"}}
        bound = f"{CORES}-core ceiling {CORES * 1000 / total:.0f} mails/s"
        if own:
            group, ms = max(own.items(), key=lambda kv: kv[1])
            bound += f"; one core for {group} alone: {1000 / ms:.0f} mails/s"
        rows.append((f"  what that CPU cost allows [{label}]", "", "", bound))
    return rows


def import_rows(found: dict[str, Any] | None) -> list[tuple[str, str, str, str]]:
    """``import --no-mail``: its rate (and the rate on a core of its own) and its memory."""
    if not found:
        return [("import --no-mail", "n/a", ">= 1000 mails/s", "")]
    rate = found["mails_per_s"]
    return [
        (
            f"import --no-mail, {found['mails']:,} mails (sqlite)",
            f"{rate} mails/s",
            ">= 1000 mails/s",
            _verdict(rate >= 1000),
        ),
        (
            "  the same per second of its own CPU",
            f"{found['mails_per_cpu_s']} mails/s",
            "",
            f"{found['cpu_seconds']} s of CPU in {found['seconds']} s",
        ),
        (
            "  peak RSS import",
            f"{found['peak_rss_mb']} MB",
            "< 150 MB",
            _verdict(found["peak_rss_mb"] is not None and found["peak_rss_mb"] < 150),
        ),
    ]


def lmtp_rows(lmtp: dict[str, Any] | None) -> list[tuple[str, str, str, str]]:
    """LMTP delivery: end of the MTA's DATA to the acknowledgement at the sink."""
    if not lmtp:
        return [("latency LMTP DATA->ack", "n/a", "p50 <= 100 ms, p99 <= 250 ms", "")]
    return [
        (
            f"latency LMTP DATA->ack p50 ({lmtp['mails']} mails @200 ms)",
            _fmt(lmtp["p50_ms"], " ms"),
            "<= 100 ms",
            _verdict(lmtp["p50_ms"] <= 100),
        ),
        (
            "latency LMTP DATA->ack p99",
            _fmt(lmtp["p99_ms"], " ms"),
            "<= 250 ms",
            _verdict(lmtp["p99_ms"] <= 250),
        ),
    ]


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


def _fmt(value: Any, unit: str = "") -> str:
    return "n/a" if value is None else f"{value}{unit}"


def _verdict(ok: bool | None) -> str:
    return "" if ok is None else ("PASS" if ok else "MISS")


def _at_least(figure: str, ratio: float | None, target: float) -> tuple[str, str, str, str]:
    """A ratio's row: the value, its target and whether it was met (none when not measured)."""
    met = None if ratio is None else ratio >= target
    return (figure, _fmt(ratio, "x"), f">= {target:g}x", _verdict(met))


def table(r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(figure, value, target, verdict) rows; the ratios are also stored back into ``r``."""
    t = r["throughput_mails_per_s"]
    sqlite, pg2, pg1 = t.get(SQLITE.label), t.get(PG2.label), t.get(PG1.label)
    sqlite2 = t.get(SQLITE2.label)
    bare, djh = r["bare_loop_mails_per_s"], r["django_helpdesk_mails_per_s"]
    honest = r.get("honest_floor_mails_per_s")
    r["ratios"] = {
        "aliasdesk/honest floor": _ratio(sqlite, honest),
        "aliasdesk/bare": _ratio(sqlite, bare),
        "aliasdesk/django-helpdesk": _ratio(sqlite, djh),
        "2 workers/1 worker": _ratio(pg2, pg1),
        "2 processes/1 process": _ratio(sqlite2, sqlite),
        "2 processes/honest floor": _ratio(sqlite2, honest),
        "2 processes/django-helpdesk": _ratio(sqlite2, djh),
    }
    ratios = r["ratios"]
    rows = [
        (f"aliasdesk {SQLITE.label}, {r['mails']} mails", _fmt(sqlite, " mails/s"), "", ""),
        (f"aliasdesk {SQLITE2.label}", _fmt(sqlite2, " mails/s"), "", ""),
        (f"aliasdesk {PG2.label}", _fmt(pg2, " mails/s"), "", ""),
        (f"aliasdesk {PG1.label}", _fmt(pg1, " mails/s"), "", ""),
        (
            "honest floor (compat32, ack + owner notice)",
            _fmt(honest, " mails/s"),
            "",
            f"{r.get('honest_floor_mails_sent')} mails sent",
        ),
        ("old bare loop (policy.default, one ack)", _fmt(bare, " mails/s"), "", ""),
        (
            f"django-helpdesk {helpdesk_peer.VERSION} get_email",
            _fmt(djh, " mails/s")
            if djh
            else f"n/a ({r['django_helpdesk_reason'] or 'not run'})"[:90],
            "",
            "",
        ),
        _at_least(
            "ratio aliasdesk/django-helpdesk (sqlite)", ratios["aliasdesk/django-helpdesk"], 10
        ),
        _at_least("ratio aliasdesk/honest floor (sqlite)", ratios["aliasdesk/honest floor"], 1),
        _at_least("ratio aliasdesk/old bare loop (sqlite)", ratios["aliasdesk/bare"], 2),
        _at_least("scale-out 2 workers / 1 worker (pg+redis)", ratios["2 workers/1 worker"], 1.6),
        _at_least("run --processes 2 / 1 (sqlite)", ratios["2 processes/1 process"], 1.0),
        _at_least("run --processes 2 / honest floor", ratios["2 processes/honest floor"], 1),
        _at_least("run --processes 2 / django-helpdesk", ratios["2 processes/django-helpdesk"], 6),
    ]
    rows += idle_rows(r["latency"] or {}) + lmtp_rows(r.get("lmtp_latency"))
    return rows + cpu_rows(r) + import_rows(r.get("import")) + memory_rows(r)


def idle_rows(lat: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """IMAP with IDLE: APPEND to the acknowledgement at the sink."""
    return [
        (
            "latency APPEND->ack p50 (IDLE, 100 mails @200 ms)",
            _fmt(lat.get("p50_ms"), " ms"),
            "< 1000 ms",
            _verdict(None if not lat else lat["p50_ms"] < 1000),
        ),
        (
            "latency APPEND->ack p99",
            _fmt(lat.get("p99_ms"), " ms"),
            "< 3000 ms",
            _verdict(None if not lat else lat["p99_ms"] < 3000),
        ),
    ]


def memory_rows(r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Peak RSS per process, and whether it stays flat with ten times the backlog."""
    rows: list[tuple[str, str, str, str]] = []
    big = r["big_10k"]
    for label, peaks in r["peak_rss_mb"].items():
        for proc, mb in peaks.items():
            rows.append((f"peak RSS {proc} [{label}]", f"{mb} MB", "< 150 MB", _verdict(mb < 150)))
    for label, info in big.items():
        if isinstance(info, dict):
            rows.append((f"10,000 mails {label}", _fmt(info["mails_per_s"], " mails/s"), "", ""))
            small = r["peak_rss_mb"].get(label, {})
            for proc, mb in info["peak_rss_mb"].items():
                base = small.get(proc)
                flat = base is not None and mb <= base * 1.25
                rows.append(
                    (
                        f"peak RSS {proc} 10k vs {r['mails']} [{label}]",
                        f"{mb} MB vs {_fmt(base)} MB",
                        "flat (<= +25 %)",
                        _verdict(flat),
                    )
                )
        else:
            rows.append(("10,000 mails", str(info)[:90], "", ""))
    return rows


def changes(latest: dict[str, Any], previous: dict[str, Any]) -> list[str]:
    lines = []
    pairs = [
        (f"throughput {k}", v, previous.get("throughput_mails_per_s", {}).get(k))
        for k, v in latest["throughput_mails_per_s"].items()
    ]
    pairs += [
        (
            "honest floor",
            latest.get("honest_floor_mails_per_s"),
            previous.get("honest_floor_mails_per_s"),
        ),
        (
            "import",
            (latest.get("import") or {}).get("mails_per_s"),
            (previous.get("import") or {}).get("mails_per_s"),
        ),
        ("bare loop", latest["bare_loop_mails_per_s"], previous.get("bare_loop_mails_per_s")),
        (
            "django-helpdesk",
            latest["django_helpdesk_mails_per_s"],
            previous.get("django_helpdesk_mails_per_s"),
        ),
    ]
    keys = ("aliasdesk/honest floor", "aliasdesk/bare", "aliasdesk/django-helpdesk")
    for key in (*keys, "2 workers/1 worker", "2 processes/1 process"):
        pairs.append(
            (f"ratio {key}", latest["ratios"].get(key), previous.get("ratios", {}).get(key))
        )
    for key in ("p50_ms", "p99_ms"):
        pairs.append(
            (
                f"latency {key}",
                (latest["latency"] or {}).get(key),
                (previous.get("latency") or {}).get(key),
            )
        )
    for name, now, before in pairs:
        if now and before:
            lines.append(f"  {name}: {before} -> {now} ({(now - before) / before * 100:+.0f} %)")
    return lines
