"""Start and stop the stack's server processes, tracked by PID file.

Each process runs in its own session (so it outlives the `labkit` command that
started it) and is recorded as `<run_dir>/<name>.pid` holding its PID and the
kernel's start time for that PID. `stop` only ever signals a PID whose start
time still matches: a recycled PID belonging to some other program is left alone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..polling import poll

__all__ = ["Launch", "age_s", "kill", "resident_kib", "running_pid", "start", "stop",
           "tracked_names"]


@dataclass(frozen=True)
class Launch:
    """How to run one server process."""

    name: str
    argv: list[str]
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None


def _start_time(pid: int) -> str | None:
    """The kernel's start time of `pid` (field 22 of /proc/<pid>/stat), or None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces; fields after it are plain.
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":  # a zombie has exited; only its exit status is left
        return None
    return fields[19]


def age_s(pid: int) -> float | None:
    """Seconds since `pid` started (its start time is in clock ticks since boot), or None."""
    started = _start_time(pid)
    if started is None:
        return None
    since_boot_s = float(Path("/proc/uptime").read_text().split()[0])
    return since_boot_s - int(started) / os.sysconf("SC_CLK_TCK")


def resident_kib(pid: int) -> tuple[int, int]:
    """Resident memory of `pid` in KiB, now and at its peak (VmRSS, VmHWM); 0s if gone."""
    found = {"VmRSS:": 0, "VmHWM:": 0}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, *value = line.split()
            if name in found:
                found[name] = int(value[0])
    return found["VmRSS:"], found["VmHWM:"]


def _pid_file(run_dir: Path, name: str) -> Path:
    return run_dir / f"{name}.pid"


def start(launch: Launch, run_dir: Path) -> int:
    """Start `launch` in the background, logging to its log file; return its PID."""
    run_dir.mkdir(parents=True, exist_ok=True)
    launch.log.parent.mkdir(parents=True, exist_ok=True)
    with launch.log.open("ab") as log:
        proc = subprocess.Popen(
            launch.argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=launch.cwd,
            env={**os.environ, **launch.env},
            start_new_session=True,
        )
    started = _start_time(proc.pid) or ""
    _pid_file(run_dir, launch.name).write_text(f"{proc.pid} {started}\n")
    return proc.pid


def running_pid(name: str, run_dir: Path) -> int | None:
    """The PID of the process `start` recorded under `name`, if it is still that process."""
    pid_file = _pid_file(run_dir, name)
    try:
        pid_text, started = pid_file.read_text().split()
    except (OSError, ValueError):
        return None
    pid = int(pid_text)
    if _start_time(pid) != started:
        pid_file.unlink(missing_ok=True)
        return None
    return pid


def tracked_names(run_dir: Path) -> list[str]:
    """Names of every process that has a PID file, running or not."""
    return sorted(p.stem for p in run_dir.glob("*.pid"))


def _reap(pid: int) -> None:
    """Collect the exit status if `pid` is our own child, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _gone(pid: int) -> bool:
    """Has the process exited (reaped, if it is our child)?"""
    _reap(pid)
    return _start_time(pid) is None


def kill(name: str, run_dir: Path, *, timeout_s: float = 10.0) -> bool:
    """SIGKILL the process recorded under `name` and its group; True if one was running."""
    pid = running_pid(name, run_dir)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        poll(lambda: _gone(pid), timeout_s=timeout_s, interval_s=0.05)
    _pid_file(run_dir, name).unlink(missing_ok=True)
    return pid is not None


def stop(name: str, run_dir: Path, *, timeout_s: float = 30.0) -> bool:
    """Stop the process recorded under `name` (TERM, then KILL); True if one was running."""
    pid = running_pid(name, run_dir)
    if pid is None:
        _pid_file(run_dir, name).unlink(missing_ok=True)
        return False
    # The process leads its own session, so its process group holds exactly the
    # server and anything it spawned (Flink's Python workers, for instance).
    with contextlib.suppress(ProcessLookupError):  # it may exit on its own meanwhile
        os.killpg(pid, signal.SIGTERM)
    if not poll(lambda: _gone(pid), timeout_s=timeout_s, interval_s=0.2):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        time.sleep(0.2)
        _reap(pid)
    _pid_file(run_dir, name).unlink(missing_ok=True)
    return True
