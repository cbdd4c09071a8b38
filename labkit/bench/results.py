"""Saved runs: a suite's results written under `.lab/bench/<UTC time>/` (JSON, CSV, the
conditions measured under), and read back as the README's performance table.

The README's table is `report`'s output, never typed (tests/unit/test_readme_report.py).
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

from ..engines.floors import FLOORS
from ..errors import LabError
from ..settings import get_settings
from .measure import Result

__all__ = ["report", "save"]


def save(results: list[Result], directory: Path | None = None, *,
         measured_under: dict | None = None) -> Path:
    """Write results as JSON and CSV, and the conditions they were measured under, under
    `.lab/bench/<UTC time>/`; return the folder."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = directory or get_settings().home / "bench" / stamp
    folder.mkdir(parents=True, exist_ok=True)
    rows = [result.to_dict() for result in results]
    (folder / "results.json").write_text(json.dumps(rows, indent=2))
    if measured_under is not None:
        (folder / "conditions.json").write_text(json.dumps(measured_under, indent=2))
    columns = ["engine", "events", "partitions", "parallelism", "processes", "rate", "wall_s",
               "loop_s", "events_per_s"]
    with (folder / "results.csv").open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return folder


# --- the README's table, from a saved suite ------------------------------------------

def report(folder: Path | None = None) -> str:
    """The Markdown performance table of a saved `make bench` run (the newest by default).

    With the conditions it was measured under and the command that made it, so
    the table in the README is this function's output, never typed.
    """
    folder = folder or _newest_run()
    if not (folder / "results.json").is_file():
        raise LabError(f"{folder} holds no saved benchmark run (no results.json).",
                       "pass the folder `make bench` saved, e.g. .lab/bench/<UTC time>/.")
    rows = json.loads((folder / "results.json").read_text())
    measured_under = _read_json(folder / "conditions.json")
    sizes = sorted({row["events"] for row in rows if row["rate"] is None})
    lines = [_report_header(folder, measured_under), "",
             "| engine (`labkit bench run --engine …`) | " + " | ".join(map(_events, sizes))
             + " |",
             "|---|" + "---|" * len(sizes)]
    for label, configuration in _REPORT_ROWS:
        cells = [" / ".join(_pace(row) for row in rows if _matches(row, configuration)
                            and row["events"] == size and row["rate"] is None) or "-"
                 for size in sizes]
        if any(cell != "-" for cell in cells):
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", *_share_lines(rows, sizes), *_startup_lines(rows), *_latency_lines(rows)]
    return "\n".join(lines)


# What a saved result left empty, or an older run did not record, stands for.
_UNRECORDED = {"cluster": False, "guarantee": "at-least-once"}


def _matches(row: dict, configuration: dict) -> bool:
    """Whether a saved result is of `configuration` (field -> value)."""
    return all((row.get(name) or _UNRECORDED.get(name)) == value
               for name, value in configuration.items())


def _flink(engine: str, parallelism: int, *, cluster: bool = False) -> dict:
    return {"engine": engine, "parallelism": parallelism, "cluster": cluster}


_PASSTHROUGH = {"engine": "passthrough"}
_SIMPLE = {"engine": "simple", "processes": 1, "guarantee": "at-least-once"}
# Each row's label and the configuration of the results it shows. A cell is "whole
# run · steady state" (`_pace`); the floors have no start-up to leave out, so one figure.
_REPORT_ROWS: list[tuple[str, dict]] = [
    ("`ceiling`: consume + Avro decode only", {"engine": "ceiling"}),
    ("`passthrough`: the ceiling + encode and produce a feature record per event",
     _PASSTHROUGH),
    ("`simple`: the whole pipeline, one process", _SIMPLE),
    ("`simple`, exactly-once (`--guarantee exactly-once`): one Kafka transaction per batch",
     {**_SIMPLE, "guarantee": "exactly-once"}),
    ("`simple`, two processes (`--processes 2`)", {**_SIMPLE, "processes": 2}),
    ("`flink`: PyFlink DataStream, parallelism 1", _flink("flink", 1)),
    ("`flink`, parallelism 2", _flink("flink", 2)),
    ("`flink` on the standalone cluster (`--flink-cluster`), parallelism 1",
     _flink("flink", 1, cluster=True)),
    ("`flink-jvm`: the same job, Avro decoded in the JVM, parallelism 1",
     _flink("flink-jvm", 1)),
    ("`flink-jvm`, parallelism 2", _flink("flink-jvm", 2)),
    ("`flink-sql`: Flink SQL OVER windows, parallelism 1", _flink("flink-sql", 1)),
    ("`flink-sql`, parallelism 2", _flink("flink-sql", 2)),
]


def _newest_run() -> Path:
    runs = sorted(p.parent for p in (get_settings().home / "bench").glob("*/results.json"))
    if not runs:
        raise LabError("No saved benchmark run under .lab/bench/.",
                       "run `make bench` first (or pass the folder of a saved run).")
    return runs[-1]


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def _report_header(folder: Path, measured_under: dict) -> str:
    text = ("Generated by `labkit bench report` from the `make bench` (`labkit bench suite`) "
            f"run saved as `{folder.name}`.")
    if not measured_under:
        return text + " Its conditions were not recorded."
    before, after = measured_under.get("before", {}), measured_under.get("after", {})
    services = before.get("services", {})
    versions = before.get("versions", {})
    return (text + f" Measured {before.get('utc', '?')} UTC on {before.get('cores')} cores "
            f"({before.get('cpu')}), {before.get('memory_gib')} GiB, shared by the stack and "
            f"the engine. Load average (1 min) {before.get('load', {}).get('1min')} before, "
            f"{after.get('load', {}).get('1min')} after. Kafka "
            f"{services.get('kafka', {}).get('version', '?')}, Flink "
            f"{versions.get('apache-flink', '?')}, Redis "
            f"{services.get('redis', {}).get('version', '?')}, Python "
            f"{versions.get('python', '?')}; Redis held {before.get('redis_keys')} keys, "
            f"append-only file {before.get('redis_aof_mb')} MB." + _memory_sentence(
                services, after.get("services", {})))


def _memory_sentence(before: dict, after: dict) -> str:
    """Each service's resident memory when the run began, and its peak by the end."""
    parts = [f"{name} {row['resident_mib']:,} MiB at the start, {after[name]['peak_mib']:,} "
             "at its peak" for name, row in before.items()
             if row.get("resident_mib") and after.get(name, {}).get("peak_mib")]
    return f" Resident memory: {'; '.join(parts)}." if parts else ""


def _events(count: int) -> str:
    return f"{count // 1_000_000}M events" if count >= 1_000_000 else f"{count // 1000}K"


def _rate(per_s: float) -> str:
    return f"{per_s / 1000:.1f}K/s" if per_s < 10_000 else f"{per_s / 1000:.0f}K/s"


def _pace(row: dict) -> str:
    """A floor's rate in its loop; an engine's whole run (events over the wall time), then
    its steady state (`output_pace`), where measured."""
    if row["engine"] in FLOORS:  # a floor: no start-up to leave out
        return _rate(row["events_per_s"])
    whole = _rate(row["events"] / row["wall_s"])
    steady = row.get("steady_per_s")
    return whole if steady is None else f"{whole} · {_rate(steady)}"


def _share_lines(rows: list[dict], sizes: list[int]) -> list[str]:
    """The simple engine's steady state as a share of passthrough's, per workload."""
    shares = []
    for size in sizes:
        floor = [r for r in rows if _matches(r, _PASSTHROUGH) and r["events"] == size
                 and r.get("steady_per_s")]
        engine = [r for r in rows if _matches(r, _SIMPLE) and r["events"] == size
                  and r["rate"] is None and r.get("steady_per_s")]
        if floor and engine:
            share = engine[0]["steady_per_s"] / floor[0]["steady_per_s"]
            shares.append(f"{_events(size)} {share:.0%}")
    if not shares:
        return []
    return [f"- `simple` (one process) at a share of `passthrough`, steady states: "
            f"{', '.join(shares)}."]


def _startup_lines(rows: list[dict]) -> list[str]:
    """Start-up seconds (the call to the first feature record) per configuration."""
    parts = []
    for label, configuration in _REPORT_ROWS:
        seconds = [r["startup_s"] for r in rows if _matches(r, configuration)
                   and r["rate"] is None and r.get("startup_s") is not None]
        if seconds:
            name = label.split(":")[0]
            low, high = min(seconds), max(seconds)
            parts.append(f"{name} {low:.1f} s" if high - low < 0.05
                         else f"{name} {low:.1f}-{high:.1f} s")
    if not parts:
        return []
    return ["- Start-up, from the call to the first feature record (lowest-highest over the "
            f"workloads): {'; '.join(parts)}."]


def _latency_lines(rows: list[dict]) -> list[str]:
    lines = []
    for row in rows:
        if row["rate"] is None or not row["latency_ms"]:
            continue
        parts = "; ".join(f"{kind.replace('_', ' ')} " + ", ".join(
            f"{point} {ms:.1f} ms" for point, ms in points.items())
            for kind, points in row["latency_ms"].items())
        pinned = ", engine and load generator pinned to separate cores" if row["pinned"] else ""
        alongside = ", ".join(f"{what} {seconds:.1f} s"
                              for what, seconds in row.get("alongside", {}).items())
        tail = row.get("breakdown_ms", {}).get("tail", {})
        spent = ", ".join(f"{stage} {ms:.1f} ms" for stage, ms in tail.items())
        lines.append(f"- Latency of `{row['engine']}` at a steady {row['rate']:,.0f} events/s "
                     f"for {row['events'] / row['rate']:.0f} s (warm-up left out"
                     f"{pinned}): {parts}."
                     + (f" The slowest 1 % spent, on average: {spent}." if spent else "")
                     + (f" CPU time meanwhile: {alongside}." if alongside else ""))
    return lines
