"""Breaking things on purpose: the failure lab's tools (notebook 06 and its tests).

Every fault acts on a process labkit started and tracks by PID: an engine run
in its own process (`start_engine`), or a service of the embedded stack
(`stop_service`, then `start_service`). Nothing is ever found by name
pattern, and a service labkit did not start is refused rather than guessed at.
`Timeline` samples a run's progress in the background while a fault happens.
`scratch_redis` starts a throw-away Redis of its own, beside the stack's, to
show what a restart does to data with and without persistence.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import redis as redis_py
from rich.console import Console

from . import clients, engines, stack, topics
from .errors import LabError
from .polling import Sampler, until
from .runs import Outputs, to_argv
from .settings import get_settings
from .stack import process
from .stack.service import port_open

__all__ = ["ScratchRedis", "StagedInput", "Timeline", "hung", "kill", "kill_service", "outage",
           "paused", "resume", "scratch_redis", "staged_copy", "start_engine", "start_service",
           "stop", "stop_service", "wait_for_progress"]


def start_engine(topic: str, **options: Any) -> subprocess.Popen:
    """The simple engine on `topic` in a process of its own (so it can be SIGKILLed), run
    with `options` (`RunOptions`' keywords, as `labkit process` flags: `runs.to_argv`).

    It uses the run's default group, so a second run with the same tag resumes it, and
    two running at once share the partitions (give each its own `instance`; with
    `members` each holds back until the group has that many). With `until_end=False` it
    keeps reading until stopped (`stop`, SIGTERM); `crash_in_batch` makes it SIGKILL
    itself between that batch's write and its commit; `pause_after` makes it stop itself
    (SIGSTOP) once it has processed and committed that many messages (`paused`): a
    fault injected then lands mid-run, however fast the engine is. An option the simple
    engine does not take, or one only Python can set, is a LabError here, before any
    process starts.
    Its output goes to a file under the lab's log folder, readable as `engine.stdout`
    (everything so far): a pipe that nobody reads fills up — a broker restart's worth of
    librdkafka connection errors is enough — and then blocks the engine in mid-write.
    """
    run = engines.options_for(**options)
    engines.get("simple").check(run)
    argv = [sys.executable, "-m", "labkit", "process", "--topic", topic, "--engine", "simple",
            *to_argv(run)]
    log = get_settings().log_dir / f"engine-{topic}{run.tag}-{run.instance}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        engine = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, text=True)
    engine.stdout = log.open()  # read from the start whenever asked; the engine appends
    return engine


@dataclass(frozen=True)
class StagedInput:
    """A copy of a topic whose input arrives in two parts (`staged_copy`)."""

    topic: str
    end_offsets: dict[int, int]  # each partition's end once the rest has arrived
    rest: tuple[topics.Record, ...]

    def deliver_rest(self) -> int:
        """Write the held-back part of every partition; return how many records."""
        return topics.copy_records(self.topic, self.rest)


def staged_copy(source: str, *, first_share: float = 0.5) -> StagedInput:
    """Copy `first_share` of every partition of `source` to a fresh topic now, and hold
    back the rest until `deliver_rest`.

    The Flink counterpart of `pause_after`: a job bounded at `end_offsets`
    (`flink.submit(..., end_offsets=...)`) reads the first part and waits for the rest,
    so it is still running, checkpoints and all, however fast it is; a fault injected
    then lands mid-run. The copy keeps partitions, keys, values and timestamps, so
    a run over it computes what a run over `source` does.
    """
    partitions: dict[int, list[topics.Record]] = {p: [] for p in topics.partition_counts(source)}
    for record in topics.read_all(source):
        partitions[record.partition].append(record)
    cut = {p: math.ceil(len(records) * first_share) for p, records in partitions.items()}
    name = topics.fresh_topic(f"{source}.staged", partitions=len(partitions))
    topics.copy_records(name, [r for p, records in partitions.items() for r in records[:cut[p]]])
    return StagedInput(name, {p: len(records) for p, records in partitions.items()},
                       tuple(r for p, records in partitions.items() for r in records[cut[p]:]))


def _stopped(pid: int) -> bool:
    """True if the process is stopped by a signal (state T in /proc/<pid>/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] == "T"  # the state follows the command's name


def paused(engine: subprocess.Popen, *, timeout_s: float = 120.0) -> None:
    """Block until an engine started with `pause_after` has stopped itself at that point.

    It is then frozen with a known amount committed and work still to do: inject a
    fault, then `resume` it or `kill` it. A LabError if it exits first.
    """
    def stopped() -> bool:
        if engine.poll() is not None:
            raise LabError(f"The engine exited (code {engine.returncode}) before its pause "
                           "point.", f"its output: {engine.stdout.read() if engine.stdout else ''}"
                           " (pause earlier: a smaller pause_after)")
        return _stopped(engine.pid)

    until(stopped, timeout_s=timeout_s, what="the engine at its pause point", interval_s=0.05)


def resume(engine: subprocess.Popen) -> None:
    """SIGCONT: a paused engine goes on where it stopped."""
    engine.send_signal(signal.SIGCONT)


def kill(engine: subprocess.Popen) -> int:
    """SIGKILL: no shutdown hook, no last commit, exactly like a crashed host. Returns the code."""
    engine.send_signal(signal.SIGKILL)
    return engine.wait()


def stop(engine: subprocess.Popen, *, timeout_s: float = 60.0) -> int:
    """SIGTERM: the engine finishes its batch, commits, leaves its group, exits. The code."""
    engine.send_signal(signal.SIGTERM)
    try:
        return engine.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise LabError(f"The engine (PID {engine.pid}) did not stop within {timeout_s:.0f} s "
                       "of SIGTERM.", "kill it with `lk.faults.kill(engine)`.") from None


def wait_for_progress(topic: str, group: str, at_least: int, *,
                      engine: subprocess.Popen | None = None, timeout_s: float = 120.0) -> int:
    """Block until `group` has committed at least `at_least` messages of `topic`.

    Raises if `engine` exits first (so a fault is never injected after the run is
    over without anyone noticing) or after `timeout_s`.
    """
    def reached() -> bool:
        done = topics.committed(topic, group)
        if done < at_least and engine is not None and engine.poll() is not None:
            raise LabError(f"The engine exited (code {engine.returncode}) after {done:,} "
                           f"messages, before reaching {at_least:,}.",
                           f"its output: {engine.stdout.read() if engine.stdout else ''}")
        return done >= at_least

    until(reached, timeout_s=timeout_s, what=f"{group} committed {at_least:,} messages",
          interval_s=0.05)
    return topics.committed(topic, group)


def _running(name: str) -> dict[str, int]:
    """The processes labkit runs for service `name`: launch name -> PID (LabError if none)."""
    settings = get_settings()
    running = {launch: pid for launch in process.tracked_names(settings.run_dir)
               if (launch == name or launch.startswith(f"{name}-"))
               and (pid := process.running_pid(launch, settings.run_dir))}
    if not running:
        raise LabError(f"labkit is not running {name!r}, so it will not touch it.",
                       "start the embedded stack with `labkit stack up`.")
    return running


def stop_service(name: str) -> list[str]:
    """Stop one service of the embedded stack (SIGTERM, by its tracked PIDs).

    Returns the processes stopped. Refuses a service labkit did not start.
    """
    return stack.down(get_settings(), only=list(_running(name)), console=Console(quiet=True))


@contextmanager
def hung(name: str) -> Iterator[None]:
    """Service `name` frozen for the block (SIGSTOP), then resumed (SIGCONT).

    A hang, not a crash: the port stays open and connections are accepted, but
    nothing answers, as with a server in a long garbage-collection pause. Only
    clients with a timeout notice. The service keeps its state (the in-memory
    registry would lose its schemas if it were restarted instead).
    """
    pids = list(_running(name).values())
    for pid in pids:  # each leads its own process group: the server and its children
        os.killpg(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            os.killpg(pid, signal.SIGCONT)


def kill_service(name: str) -> list[str]:
    """SIGKILL one service of the embedded stack (by its tracked PIDs): a crash, with no
    chance to close files or say goodbye. Returns the processes killed."""
    settings = get_settings()
    killed = list(_running(name))
    for launch in killed:
        process.kill(launch, settings.run_dir)
    return killed


def start_service() -> list[str]:
    """Start whatever part of the stack is down again, and wait until it is healthy."""
    return stack.up(console=Console(quiet=True))


@contextmanager
def outage(name: str) -> Iterator[None]:
    """Service `name` stopped for the block; started again, and healthy, after it."""
    stop_service(name)
    try:
        yield
    finally:
        start_service()


class Timeline(Sampler):
    """Samples a run's committed offsets and feature records written, every `every_s`.

    Use as a context manager around a fault; `mark(label)` notes when something
    happened; `frame()` is the samples as a DataFrame (seconds since start).
    """

    def __init__(self, topic: str, group: str, outputs: Outputs, every_s: float = 0.25) -> None:
        super().__init__(every_s)
        self.topic, self.group, self.outputs = topic, group, outputs

    def take(self) -> tuple[float, float]:
        """(committed, feature records), or NaNs — a gap in the plot — while Kafka is away.

        The port is checked first so that the Kafka client does not log connection errors.
        """
        if port_open(*get_settings().host_port("kafka")):
            with contextlib.suppress(LabError), clients.quiet():  # it may close meanwhile
                return (topics.committed(self.topic, self.group),
                        topics.count(self.outputs.features))
        return math.nan, math.nan

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.samples, columns=["seconds", "committed", "feature_records"])



def _free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that nothing listens on right now (the kernel picks it)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclass
class ScratchRedis:
    """A throw-away `redis-server` beside the stack's, on a free 127.0.0.1 port (notebook 06).

    With `persistence`, every write is appended to a file and fsynced before
    Redis answers (`--appendonly yes --appendfsync always`); without, nothing
    ever reaches the disk (`--save "" --appendonly no`). Its files (and log)
    live in `directory`, which survives `kill` so that `start` finds them again.
    Started, SIGKILLed and stopped by its own PID, never found by name.
    """

    directory: Path
    persistence: bool
    port: int = field(default_factory=_free_port)
    process: subprocess.Popen | None = None

    def argv(self) -> list[str]:
        durability = (["--appendonly", "yes", "--appendfsync", "always"] if self.persistence
                      else ["--appendonly", "no"])
        return [shutil.which("redis-server") or "redis-server", "--bind", "127.0.0.1",
                "--port", str(self.port), "--save", "", *durability,
                "--dir", str(self.directory), "--logfile", str(self.directory / "redis.log"),
                "--daemonize", "no"]

    def client(self) -> redis_py.Redis:
        return redis_py.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def _answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            log = self.directory / "redis.log"
            raise LabError(f"The scratch redis-server exited (code {self.process.returncode}).",
                           f"its log: {log.read_text()[-500:] if log.exists() else 'none'}")
        try:
            return bool(self.client().ping())
        except redis_py.RedisError:  # not listening yet, or still loading its file
            return False

    def start(self) -> ScratchRedis:
        """Start the server (again) and wait until it answers PING."""
        if shutil.which("redis-server") is None:
            raise LabError("redis-server is not installed.",
                           "install it (`apt-get install redis-server`) or run `make lab`.")
        self.process = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        until(self._answers, timeout_s=20.0, what=f"the scratch Redis on port {self.port}",
              interval_s=0.05)
        return self

    def kill(self) -> int:
        """SIGKILL, by PID: no shutdown, no last save. Returns the exit code (-9)."""
        if self.process is None:
            raise LabError("The scratch Redis was never started.", "call start() first.")
        self.process.send_signal(signal.SIGKILL)
        return self.process.wait()

    def stop(self) -> None:
        """SIGTERM by PID (SIGKILL after 10 s), if it is still running."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()


@contextmanager
def scratch_redis(*, persistence: bool) -> Iterator[ScratchRedis]:
    """A started `ScratchRedis` in a temporary directory; stopped and removed after the block."""
    with tempfile.TemporaryDirectory(prefix="lab-redis-") as directory:
        server = ScratchRedis(Path(directory), persistence)
        try:
            yield server.start()
        finally:
            server.stop()
