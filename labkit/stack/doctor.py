"""Preflight: can the lab's stack start on this machine? Every problem with its fix.

`labkit doctor` (and `make lab`, before anything starts) checks what the
embedded stack needs: the platform, cores and free memory against the
profile's budget, Java, Maven (only while the JVM parts are missing),
redis-server, each service's ports (free, or held by a healthy service of the
right kind, which the stack will use), the JVM parts, free disk, Docker (for
the compose route). A check that fails means `labkit stack up` would fail;
a warning means the lab runs, worse than it could.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import StackError
from ..settings import Settings
from .jvm import build_tools, java_bin, parts_present
from .service import Service, port_open

__all__ = ["BUDGET_GIB", "PROFILES", "Check", "checks", "failed"]

# The stack's profiles: `core` (Kafka, the registry, Redis; Flink jobs run on a
# mini-cluster inside the notebook's process), `flink` (plus the standalone cluster) and
# `cluster` (plus chapter 09's three Kafka brokers and three controllers).
PROFILES = ("core", "flink", "cluster")
# Memory each profile needs, in GiB: the services' configured heaps and process sizes
# (kafka.py -Xmx1g, registry.py -Xmx768m, flink.py 1024m + 1536m), Redis, and a notebook
# kernel running a PyFlink mini-cluster job, with a margin for the OS page cache Kafka
# reads through. The cluster profile adds six JVMs (cluster.py: brokers -Xmx512m,
# controllers -Xmx256m) to the flink profile's. `labkit stack status` shows what each
# service uses.
BUDGET_GIB = {"core": 4.0, "flink": 6.5, "cluster": 9.0}
MIN_DISK_GIB = 2.0


@dataclass(frozen=True)
class Check:
    """One line of the doctor's table."""

    name: str
    status: str  # "ok", "warn" or "fail"
    detail: str
    fix: str = ""


def failed(results: list[Check]) -> list[Check]:
    return [check for check in results if check.status == "fail"]


def checks(settings: Settings, services: list[Service], *, profile: str) -> list[Check]:
    """Every check for starting `services` (the `profile`'s) with `settings`."""
    found = [_platform(), _cores(), _memory(profile), _java(), _maven(settings),
             _jvm_parts(settings), _disk(settings), _docker()]
    for service in services:
        found += _service(service, settings)
    return found


def _platform() -> Check:
    system, machine = platform.system(), platform.machine()
    if system == "Linux":
        return Check("platform", "ok", f"{system} {machine}")
    return Check("platform", "warn", f"{system} {machine}: the embedded stack is tested on Linux",
                 "if a service will not start, use `docker compose up -d` (README).")


def _cores() -> Check:
    cores = os.cpu_count() or 1
    if cores >= 2:
        return Check("cores", "ok", f"{cores}")
    return Check("cores", "warn", f"{cores}: Kafka, Redis, Flink and the engine share it",
                 "expect slow benchmarks; give the machine 2 cores or more.")


def available_gib() -> float | None:
    """Memory available to new processes (Linux's MemAvailable), or None if unknown."""
    try:
        meminfo = Path("/proc/meminfo").read_text()
    except OSError:
        return None
    for line in meminfo.splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 2**20
    return None


def _memory(profile: str, available: Callable[[], float | None] = available_gib) -> Check:
    budget, free = BUDGET_GIB[profile], available()
    if free is None:
        return Check("memory", "warn", f"unknown; the {profile} profile needs {budget:g} GiB")
    detail = f"{free:.1f} GiB available; the {profile} profile needs {budget:g} GiB"
    if free >= budget:
        return Check("memory", "ok", detail)
    other = "`--profile core` needs less; " if profile != "core" else ""
    return Check("memory", "fail", detail, f"{other}close other programs, or give the "
                 "machine more memory (Docker Desktop: Settings → Resources).")


def _java() -> Check:
    try:
        java = java_bin()
    except StackError as problem:
        return Check("java", "fail", problem.cause, problem.fix)
    version = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    return Check("java", "ok", version.splitlines()[0] if version else java)


def _maven(settings: Settings) -> Check:
    if parts_present(settings):
        return Check("maven", "ok", (shutil.which("mvn") or "not installed") +
                     "; not needed now (the JVM parts are in place)")
    try:
        return Check("maven", "ok", build_tools())
    except StackError as problem:
        return Check("maven", "fail", problem.cause, problem.fix)


def _jvm_parts(settings: Settings) -> Check:
    if parts_present(settings):
        return Check("JVM parts", "ok", f"in {settings.jvm_dir}")
    return Check("JVM parts", "warn", "not fetched yet", "`make jvm` (or `make lab`) fetches "
                 "them from Maven Central, once.")


def _disk(settings: Settings) -> Check:
    folder = settings.home if settings.home.exists() else settings.home.parent
    free = shutil.disk_usage(folder).free / 2**30
    detail = f"{free:.1f} GiB free under {folder}"
    if free >= MIN_DISK_GIB:
        return Check("disk", "ok", detail)
    return Check("disk", "fail", detail + f"; the lab needs {MIN_DISK_GIB:g} GiB",
                 "free some space, or point LAB_HOME at a larger disk.")


def _docker() -> Check:
    docker = shutil.which("docker")
    return Check("docker", "ok", f"{docker}: `docker compose up -d` is an option if its engine runs"
                 if docker else "absent: not needed, the embedded stack runs without it")


def _service(service: Service, settings: Settings) -> list[Check]:
    """The service's own requirement (redis-server, PyFlink, ...) and each of its ports."""
    host = settings.host_port(service.name)[0]
    health = service.probe(settings)
    found = []
    try:
        service.require(settings)
    except StackError as problem:
        if not health.ok:  # a healthy service already running needs nothing installed
            found.append(Check(f"{service.title}: needs", "fail", problem.cause, problem.fix))
    for port in service.ports(settings):
        name = f"{service.title}: port {port}"
        if not port_open(host, port):
            found.append(Check(name, "ok", "free"))
        elif health.ok:
            found.append(Check(name, "ok", f"held by a healthy {service.title} "
                               f"{health.version} (the stack uses it)"))
        else:
            found.append(Check(name, "fail", f"taken by {_listener(port)}, which is not a "
                               f"healthy {service.title}",
                               f"stop it, or point LAB_{service.name.upper()} at a free port."))
    return found


def _listener(port: int) -> str:
    """The program listening on `port`, as `ss` names it, or "another program"."""
    if shutil.which("ss") is None:
        return "another program"
    out = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True,
                         text=True).stdout
    names = sorted({part.split('"')[1] for part in out.split("((")[1:] if '"' in part})
    return ", ".join(names) or "another program"
