"""Outages an engine rides out: a broker, group coordinator, Redis or registry briefly away.

A freshly started broker answers NOT_COORDINATOR for a few seconds; a
restarting broker, Redis or schema registry refuses connections for a few
more. Such a failure is *transient*: the same call succeeds once the service
is back, so the engine retries it (`retrying`) instead of crashing. Anything
else, or an outage longer than `OUTAGE_TIMEOUT_S`, stops the run with a
LabError, before the batch in hand is committed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import redis as redis_py
from confluent_kafka import KafkaException

from ..clients import kafka_transient
from ..errors import LabError, ServiceUnavailable

__all__ = ["OUTAGE_TIMEOUT_S", "retrying", "transient"]

# How long an outage (Kafka coordinator or broker, Redis, registry) may last before the run
# gives up.
OUTAGE_TIMEOUT_S = 120.0

T = TypeVar("T")


def transient(exc: Exception) -> bool:
    """Will the same call succeed once the service is back?"""
    if isinstance(exc, KafkaException):
        return kafka_transient(exc.args[0])
    if isinstance(exc, redis_py.AuthenticationError):  # a ConnectionError, but not transient
        return False
    return isinstance(exc, redis_py.ConnectionError | redis_py.TimeoutError | ServiceUnavailable)


def retrying(call: Callable[[], T], what: str) -> T:
    """`call()`, retried with backoff (0.1 s doubling to 2 s) while the failure is transient.

    Past `OUTAGE_TIMEOUT_S`, or on a failure that is not transient, a LabError
    saying `what` failed.
    """
    deadline = time.monotonic() + OUTAGE_TIMEOUT_S
    delay = 0.1
    while True:
        try:
            return call()
        except (KafkaException, redis_py.RedisError, ServiceUnavailable) as exc:
            if not transient(exc) or time.monotonic() + delay > deadline:
                raise LabError(f"{what} failed: {exc}",
                               "check the stack with `labkit stack status`; offsets were not "
                               "committed, so a restart re-reads the batch.") from None
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
