"""The conditions of a measurement: what else shaped the numbers, recorded beside them.

A benchmark on a shared 2-core machine measures the machine as much as the
engine. `snapshot()` records the machine and the stack before and after a run
(cores, load, each service's uptime and version, Redis's size); `cpu_ticks()`
and `busiest()` say which processes used the CPU in between, so a latency tail
can be read next to what competed with the engine for the cores.
"""

from __future__ import annotations

import contextlib
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

from . import clients, stack
from .settings import get_settings

__all__ = ["ENDED_CHILDREN", "busiest", "cpu_ticks", "load", "snapshot"]


def load() -> dict[str, float]:
    """The 1-, 5- and 15-minute load averages: runnable processes, on 2 cores."""
    one, five, fifteen = os.getloadavg()
    return {"1min": round(one, 2), "5min": round(five, 2), "15min": round(fifteen, 2)}


def snapshot() -> dict:
    """The machine and the stack as a measurement found them: print it beside the numbers.

    Cores and CPU model, memory, load averages, each service's version, uptime
    and resident memory (now, and the highest since it started: after a
    benchmark, what it needed under load), Redis's keys and append-only file (a
    large file means a rewrite may fork mid-run), and the versions of Python and
    the client libraries.
    """
    settings = get_settings()
    services = {}
    # The stack the engines run on. Chapter 09's cluster, when it runs beside it, is other
    # load: `cpu_ticks` counts it with everything else on the machine.
    for row in stack.status(settings, cluster=False):
        ages = [age for pid in row.pids if (age := stack.process.age_s(pid)) is not None]
        now_mib, peak_mib = row.resident_mib()
        services[row.name] = {"up": row.health.ok, "version": row.health.version,
                              "uptime_s": round(max(ages)) if ages else None,
                              "resident_mib": round(now_mib), "peak_mib": round(peak_mib)}
    redis = clients.redis_client()
    persistence = redis.info("persistence")
    return {
        "utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "cpu": _cpu_model(), "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "load": load(),
        "services": services,
        "redis_keys": redis.dbsize(),
        "redis_aof_mb": round(persistence.get("aof_current_size", 0) / 2**20, 1),
        "versions": _versions(),
    }


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    found = {"python": platform.python_version()}
    for package in ("labkit", "confluent-kafka", "fastavro", "redis", "apache-flink"):
        found[package] = version(package)
    return found


ENDED_CHILDREN = -1  # cpu_ticks' key for the CPU time of this process's ended children


def cpu_ticks() -> dict[int, tuple[str, int]]:
    """CPU time used so far by every process: {pid: (what it is, clock ticks)}, from /proc.

    A process that ends between two snapshots leaves no trace in the second, so
    the CPU time of this process's own children once they have ended (the load
    generators, scale-out processes) is kept under `ENDED_CHILDREN`.
    """
    run_dir = get_settings().run_dir
    services = {pid: name for name in stack.process.tracked_names(run_dir)
                if (pid := stack.process.running_pid(name, run_dir))}
    ticks = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            text = stat.read_text()
            fields = text[text.rindex(")") + 2:].split()
            pid = int(stat.parent.name)
            what = services.get(pid) or _what(pid, text[text.index("(") + 1:text.rindex(")")])
            ticks[pid] = (what, int(fields[11]) + int(fields[12]))
            if pid == os.getpid():
                ticks[ENDED_CHILDREN] = ("processes it started, since ended (e.g. load "
                                         "generators)", int(fields[13]) + int(fields[14]))
    return ticks


def _what(pid: int, name: str) -> str:
    """A process that is not the lab's service, as a reader knows it: "this process",
    or its command."""
    if pid == os.getpid():
        return "this process (the engine)"
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    if name == "java":  # the main class says what it is (a PyFlink job's gateway, ...)
        main = next((arg for arg in argv[1:] if arg.startswith(("kafka.", "org.", "io."))), "")
        return f"java {main.rsplit('.', 1)[-1]}".strip()
    if "-m" in argv:  # python -m labkit generate ...
        return " ".join(argv[argv.index("-m") + 1:][:2])
    return name


def busiest(before: dict[int, tuple[str, int]], after: dict[int, tuple[str, int]], *,
            top: int = 6) -> list[tuple[str, int | None, float]]:
    """What ran between two `cpu_ticks()` snapshots: [(what, pid, CPU seconds)], most first.

    The pid of this process's ended children is None.
    """
    per_tick = os.sysconf("SC_CLK_TCK")
    used = [(what, None if pid == ENDED_CHILDREN else pid,
             round((ticks - before.get(pid, (what, 0))[1]) / per_tick, 2))
            for pid, (what, ticks) in after.items()]
    return sorted((row for row in used if row[2] > 0), key=lambda row: -row[2])[:top]
