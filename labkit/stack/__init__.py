"""The embedded stack: real Kafka, Schema Registry, Redis and Flink as local processes.

`up` starts what is not already answering at its endpoint, waits until each
service is healthy, and undoes everything it started if one fails. `down`
stops exactly the processes `up` recorded (by PID), nothing else.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from ..errors import StackError
from ..settings import Settings, get_settings
from . import process
from .cluster import Cluster
from .flink import Flink
from .jvm import ensure_jvm_parts
from .kafka import Kafka
from .redis import Redis
from .registry import Registry
from .service import Health, Service, port_open

__all__ = ["ServiceStatus", "down", "logs", "print_status", "require_up", "reset", "status",
           "status_table", "up"]

LOCAL_HOSTS = {"127.0.0.1", "localhost"}


def services(*, flink_cluster: bool = False, cluster: bool = False) -> list[Service]:
    """The stack's services in start order (with `cluster`, chapter 09's Kafka cluster)."""
    return [Redis(), Kafka(), Registry(), Flink(cluster=flink_cluster),
            *([Cluster()] if cluster else [])]


def _cluster_tracked(settings: Settings) -> bool:
    """Does labkit run (or did it run) chapter 09's cluster here?"""
    return any(_belongs_to(name, Cluster()) for name in process.tracked_names(settings.run_dir))


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    title: str
    endpoint: str
    health: Health
    pids: list[int]

    def resident_mib(self) -> tuple[float, float]:
        """Resident memory of labkit's processes for this service in MiB, now and the sum
        of each process's peak (0s if labkit runs none)."""
        now = peak = 0
        for pid in self.pids:
            now_kib, peak_kib = process.resident_kib(pid)
            now, peak = now + now_kib, peak + peak_kib
        return now / 1024, peak / 1024

    def memory(self) -> str:
        """Resident memory of labkit's processes for this service, now and at its peak."""
        now, peak = self.resident_mib()
        return f"{now:,.0f} MiB ({peak:,.0f})" if self.pids else "-"

    @property
    def owner(self) -> str:
        if self.pids:
            return "labkit (pid " + ", ".join(map(str, self.pids)) + ")"
        return "external" if self.health.ok and self.name != "flink" else "-"


def _belongs_to(process_name: str, service: Service) -> bool:
    """Process names are the service's name, or it plus a role (`flink-taskmanager`)."""
    return process_name == service.name or process_name.startswith(f"{service.name}-")


def _launch_names(service: Service, settings: Settings) -> list[str]:
    return [name for name in process.tracked_names(settings.run_dir) if _belongs_to(name, service)]


def status(settings: Settings | None = None, *,
           cluster: bool | None = None) -> list[ServiceStatus]:
    """Probe every service over a real connection (the Kafka cluster too if `cluster`;
    by default, if labkit runs it)."""
    settings = settings or get_settings()
    if cluster is None:
        cluster = _cluster_tracked(settings)
    rows = []
    for service in services(flink_cluster=False, cluster=cluster):
        names = _launch_names(service, settings)
        pids = [pid for n in names if (pid := process.running_pid(n, settings.run_dir))]
        if isinstance(service, Flink):
            service.cluster = bool(pids)
        rows.append(ServiceStatus(service.name, service.title, service.endpoint(settings),
                                  service.probe(settings), pids))
    return rows


def status_table(rows: list[ServiceStatus]) -> Table:
    """A readable table of `status()` rows."""
    table = Table(title="streaming-lab stack")
    for column in ("service", "version", "endpoint", "health", "run by", "memory (peak)",
                   "detail"):
        table.add_column(column)
    for row in rows:
        health = "[green]healthy[/]" if row.health.ok else "[red]down[/]"
        table.add_row(row.title, row.health.version, row.endpoint, health, row.owner,
                      row.memory(), row.health.detail)
    return table


def print_status(settings: Settings | None = None) -> None:
    """Print the status table (in a notebook, rendered as HTML)."""
    Console().print(status_table(status(settings)))


def require_up(settings: Settings | None = None, *, cluster: bool = False) -> dict[str, str]:
    """Raise a StackError naming every service that is down (of the core and flink
    profiles, and with `cluster` chapter 09's cluster); return versions if all are up."""
    rows = status(settings, cluster=cluster)
    down_rows = [row for row in rows if not row.health.ok]
    if down_rows:
        listing = "; ".join(f"{row.title} at {row.endpoint}: {row.health.detail}"
                            for row in down_rows)
        command = "labkit stack up --profile cluster" if cluster else "labkit stack up"
        raise StackError(
            f"The lab's stack is not fully up ({listing}).",
            f"run `make lab` (or `.venv/bin/{command}`) in a terminal, then run this "
            "cell again.",
        )
    return {row.name: row.health.version for row in rows}


def _check_can_start(service: Service, settings: Settings) -> None:
    host = settings.host_port(service.name)[0]
    if host not in LOCAL_HOSTS:
        raise StackError(
            f"{service.title} is not answering at {service.endpoint(settings)}, and labkit only "
            "starts servers on this machine (127.0.0.1).",
            f"start {service.title} at that address yourself, or unset "
            f"LAB_{service.name.upper()} to use the embedded stack.",
        )
    service.require(settings)
    for port in service.ports_to_start(settings):
        if port_open(host, port):
            raise StackError(
                f"Port {port} on {host} is taken by another program, so {service.title} cannot "
                "start there (whatever listens does not answer as a healthy "
                f"{service.title}).",
                f"stop that program (`ss -ltnp 'sport = :{port}'` names it), or point "
                f"LAB_{service.name.upper()} at a free port.",
            )


def _wait_healthy(plan: dict[Service, list[str]], settings: Settings, console: Console) -> None:
    """Poll until every started service is healthy; fail fast if one of its processes dies."""
    pending = list(plan)
    started_at = time.monotonic()
    with console.status("") as spinner:
        while pending:
            for service in list(pending):
                elapsed = time.monotonic() - started_at
                spinner.update(f"waiting for {', '.join(s.title for s in pending)} "
                               f"({elapsed:.0f} s)")
                for launch in plan[service]:
                    if process.running_pid(launch, settings.run_dir) is None:
                        raise StackError(
                            f"{service.title} ({launch}) exited during start-up. Last lines "
                            f"of {settings.log_dir / launch}.log:\n"
                            f"{tail(settings, launch, lines=12)}",
                            f"read the whole log with `labkit stack logs {service.name}`; "
                            "a busy port or too little memory are the usual causes.",
                        )
                health = service.probe(settings)
                if health.ok:
                    service.after_start(settings)
                    console.print(f"[green]✓[/] {service.title} {health.version} healthy "
                                  f"at {service.endpoint(settings)} ({elapsed:.0f} s)")
                    pending.remove(service)
                elif elapsed > service.start_timeout_s:
                    raise StackError(
                        f"{service.title} did not become healthy within "
                        f"{service.start_timeout_s:.0f} s ({health.detail}).",
                        f"see `labkit stack logs {service.name}`{_grown_data(settings)}.",
                    )
            time.sleep(0.5)


# Above this, a slow start is most likely the data of earlier runs (the broker loads every
# topic's logs before it answers: 6 GiB of test and notebook topics took it past 60 s here).
GROWN_DATA_BYTES = 2 * 2**30


def _grown_data(settings: Settings) -> str:
    """A hint for a slow start when the lab's data folder has grown large, else ''."""
    size = sum(path.stat().st_size for path in settings.data_dir.rglob("*") if path.is_file())
    if size < GROWN_DATA_BYTES:
        return ""
    return (f"; the lab's data folder holds {size / 2**30:.1f} GiB from earlier runs, which "
            "the service loads before it answers: `labkit stack reset` deletes the lab's "
            "topics, subjects and Redis keys (it keeps the jars)")


def up(settings: Settings | None = None, *, flink_cluster: bool = False, cluster: bool = False,
       console: Console | None = None) -> list[str]:
    """Start every service that is not already healthy; return the process names started."""
    settings = settings or get_settings()
    console = console or Console()
    plan = []
    for service in services(flink_cluster=flink_cluster, cluster=cluster):
        health = service.probe(settings)
        if health.ok:
            console.print(f"[green]✓[/] {service.title} {health.version} already up "
                          f"({health.detail})")
        elif isinstance(service, Flink) and not flink_cluster:
            raise StackError(f"Flink's local mini-cluster is not ready: {health.detail}.",
                             "run `make lab` to install PyFlink and fetch the connector jar.")
        else:
            plan.append(service)
    if not plan:
        return []
    if any(service.needs_jvm for service in plan):
        ensure_jvm_parts(settings)
    for service in plan:
        _check_can_start(service, settings)
    started: dict[Service, list[str]] = {}
    try:
        for service in plan:
            service.prepare(settings)
            for launch in service.launches(settings):
                process.start(launch, settings.run_dir)
                started.setdefault(service, []).append(launch.name)
        _wait_healthy(started, settings, console)
    except BaseException:
        # Never leave half a stack behind: stop what this call started, then re-raise.
        down(settings, only=_flat(started), console=console)
        raise
    return _flat(started)


def _flat(started: dict[Service, list[str]]) -> list[str]:
    return [name for names in started.values() for name in names]


def down(settings: Settings | None = None, *, only: list[str] | None = None,
         console: Console | None = None) -> list[str]:
    """Stop the processes labkit started (all of them, or just `only`); return their names."""
    settings = settings or get_settings()
    console = console or Console()
    names = only if only is not None else process.tracked_names(settings.run_dir)
    stopped = []
    # Reverse start order: dependants (Flink, the registry) before Kafka.
    for name in sorted(names, key=_start_rank, reverse=True):
        if process.stop(name, settings.run_dir):
            console.print(f"stopped {name}")
            stopped.append(name)
    return stopped


def _start_rank(name: str) -> tuple[int, int]:
    """Position of a process's service in start order (unknown names last), then its place
    within the service: the cluster's controllers start before its brokers, and must stop
    after them (a broker's clean shutdown asks the controllers to move its leaderships)."""
    every = services(cluster=True)
    for rank, service in enumerate(every):
        if _belongs_to(name, service):
            return rank, int(name.startswith("cluster-broker-"))
    return len(every), 0


def reset(settings: Settings | None = None, *, console: Console | None = None) -> None:
    """Stop the stack and delete its data (topics, Kafka storage, configs); keep the jars."""
    settings = settings or get_settings()
    down(settings, console=console)
    shutil.rmtree(settings.data_dir, ignore_errors=True)
    shutil.rmtree(settings.log_dir, ignore_errors=True)


def tail(settings: Settings, name: str, *, lines: int = 40) -> str:
    """The last `lines` lines of one process's log."""
    path = settings.log_dir / f"{name}.log"
    if not path.exists():
        return f"(no log at {path})"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def logs(service_name: str, settings: Settings | None = None, *, lines: int = 40) -> str:
    """The log tail of every process of one service (e.g. both of Flink's)."""
    settings = settings or get_settings()
    known = {s.name for s in services(cluster=True)}
    if service_name not in known:
        raise StackError(f"There is no service called {service_name!r}.",
                         f"pick one of: {', '.join(sorted(known))}.")
    paths = sorted(settings.log_dir.glob(f"{service_name}*.log"))
    if not paths:
        return f"(no logs yet under {settings.log_dir})"
    return "\n".join(f"==> {p} <==\n{tail(settings, p.stem, lines=lines)}" for p in paths)
