"""Notebook 02's Redis lessons: the sink that crashes, and counting round trips.

`write_features_naive` is the original sink, kept so the notebook (and
problems/02) can reproduce its crash; the pipeline writes with
`sinks.RedisFeatureSink`. `RoundTrips` counts the requests one client sends,
to show what the sink's pipelining saves (notebook 02, and grader ch02).
"""

from __future__ import annotations

from typing import Any

import redis as redis_py

from ..clients import redis_client

__all__ = ["RoundTrips", "write_features_naive"]


def write_features_naive(client: redis_py.Redis, key: str, features: dict[str, Any]) -> None:
    """THE BUG of notebook 02, kept on purpose: HSET the Python values as they are.

    redis-py raises `DataError: Invalid input of type: 'bool'` (or 'NoneType').
    """
    client.hset(key, mapping=features)


class RoundTrips:
    """A Redis client that counts its round trips (notebook 02): `client`, then `count`.

    Every request the client sends waits for its reply, so requests sent are
    round trips: one per plain command, one per pipeline `execute()`. The client
    connects before counting starts (the connection's handshake is not counted)
    and counts only itself, not the other clients of the same server.
    """

    def __init__(self, *, hiredis: bool = False) -> None:
        self.count = 0
        counter = self

        class CountingConnection(redis_py.Connection):
            def send_packed_command(self, command, check_health=True):
                counter.count += 1
                super().send_packed_command(command, check_health)

        self.client = redis_client(hiredis=hiredis)
        self.client.connection_pool.connection_class = CountingConnection
        self.client.ping()
        self.count = 0
