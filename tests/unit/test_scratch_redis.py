"""`faults.scratch_redis`: a throw-away redis-server, killed and restarted by its own PID.

Real redis-server processes on free ports, no stack: what notebook 06 shows about
persistence, checked here on every run.
"""

import os
import shutil
import signal
import socket
from pathlib import Path

import pytest

from labkit import faults
from labkit.errors import LabError

# `make setup` installs it (the stack runs on it): in CI, where a skip fails, it must be there.
needs_redis_server = pytest.mark.skipif(shutil.which("redis-server") is None,
                                        reason="redis-server is not installed")


def _survivors(persistence: bool) -> tuple[int, int, int]:
    """Keys written, the kill's exit code, and keys left after a restart."""
    with faults.scratch_redis(persistence=persistence) as scratch:
        client = scratch.client()
        for card in range(50):
            client.hset(f"features:card-{card:04d}", mapping={"txn_count_1h": card})
        written = client.dbsize()
        killed = scratch.kill()
        scratch.start()
        return written, killed, scratch.client().dbsize()


@needs_redis_server
def test_without_persistence_a_sigkill_and_restart_loses_every_key():
    assert _survivors(persistence=False) == (50, -signal.SIGKILL, 0)


@needs_redis_server
def test_with_an_fsynced_append_only_file_every_key_survives():
    assert _survivors(persistence=True) == (50, -signal.SIGKILL, 50)


def test_the_flags_say_what_the_notebook_says():
    off = faults.ScratchRedis(directory=Path("/nowhere"), persistence=False, port=1)
    on = faults.ScratchRedis(directory=Path("/nowhere"), persistence=True, port=1)
    assert off.argv()[5:9] == ["--save", "", "--appendonly", "no"]
    assert on.argv()[5:11] == ["--save", "", "--appendonly", "yes", "--appendfsync", "always"]
    assert off.argv()[1:3] == ["--bind", "127.0.0.1"]


@needs_redis_server
def test_after_the_block_the_server_is_stopped_and_its_directory_gone():
    with faults.scratch_redis(persistence=True) as scratch:
        pid, directory = scratch.process.pid, scratch.directory
        assert (directory / "redis.log").exists()
    assert scratch.process.poll() is not None
    assert not directory.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@needs_redis_server
def test_a_server_that_cannot_start_is_reported_with_its_log(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        scratch = faults.ScratchRedis(tmp_path, persistence=False, port=busy.getsockname()[1])
        with pytest.raises(LabError) as err:
            scratch.start()
    assert "exited" in err.value.cause
    assert "Address already in use" in err.value.fix
