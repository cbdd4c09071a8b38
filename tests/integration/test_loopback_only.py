"""Every server of the embedded stack listens on loopback only.

Every listening TCP socket of the stack's processes (and their children) is bound to
loopback, from /proc. How /proc's lines are read, and that a wildcard listener is
reported, is checked on sample lines in tests/unit/test_security.py.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest
from stack_sockets import exposed, listeners

from labkit.settings import get_settings
from labkit.stack import process

pytestmark = pytest.mark.integration


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process now running."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):  # the process may exit while we look
            # The command name (field 2) may hold spaces and ')': split after the last ')'.
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
    return parents


def _stack_processes() -> dict[int, str]:
    """pid -> launch name of every process of the embedded stack, children included
    (a Flink TaskManager starts Python workers, for instance)."""
    run_dir = get_settings().run_dir
    owners = {pid: name for name in process.tracked_names(run_dir)
              if (pid := process.running_pid(name, run_dir))}
    parents, grew = _parents(), True
    while grew:
        children = {pid: owners[ppid] for pid, ppid in parents.items()
                    if ppid in owners and pid not in owners}
        owners.update(children)
        grew = bool(children)
    return owners


def _socket_inodes(pid: int) -> set[int]:
    """Inodes of the sockets `pid` has open (its fds link to 'socket:[inode]')."""
    inodes = set()
    with contextlib.suppress(OSError):  # the process may exit while we look
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):  # and close an fd meanwhile
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(int(target[len("socket:["):-1]))
    return inodes


def test_every_server_of_the_stack_listens_on_loopback_only():
    owners = _stack_processes()
    if not owners:  # in CI (CI=true) a skip fails the run: there, labkit starts the stack
        pytest.skip("no stack process was started by labkit here (an external stack?)")
    listening = {**listeners(Path("/proc/net/tcp").read_text()),
                 **listeners(Path("/proc/net/tcp6").read_text())}
    sockets = {pid: _socket_inodes(pid) for pid in owners}
    ports = {listening[inode][1] for inodes in sockets.values() for inode in inodes
             if inode in listening}
    # Guard against a vacuous pass: the services' own ports must have been found.
    services = {name.split("-")[0] for name in owners.values()}
    assert {get_settings().host_port(name)[1] for name in services} <= ports
    wide = exposed(sockets, listening)
    assert not wide, "listening beyond this machine: " + "; ".join(
        f"{owners[pid]} (pid {pid}) on {address}:{port}" for pid, address, port in wide)
