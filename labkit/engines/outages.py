"""Outages an engine rides out: a broker, group coordinator, Redis or registry briefly away.

A freshly started broker answers NOT_COORDINATOR for a few seconds; a
restarting broker, Redis or schema registry refuses connections for a few
more. Such a failure is *transient*: the same call succeeds once the service
is back, so the engine retries it (`retrying`: the lab's one retry policy,
`polling.retry`, with the engine's backoff) instead of crashing. Anything else,
or an outage longer than `OUTAGE_TIMEOUT_S`, stops the run with a LabError,
before the batch in hand is committed.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TypeVar

import redis as redis_py
from confluent_kafka import KafkaException

from ..clients import kafka_transient
from ..errors import LabError, ServiceUnavailable
from ..polling import retry

__all__ = ["OUTAGES", "OUTAGE_TIMEOUT_S", "retrying", "transient"]

# How long an outage (Kafka coordinator or broker, Redis, registry) may last before the run
# gives up.
OUTAGE_TIMEOUT_S = 120.0

# What a service that is away makes a call raise; `transient` tells a passing outage apart.
OUTAGES = (KafkaException, redis_py.RedisError, ServiceUnavailable)

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

    Past `OUTAGE_TIMEOUT_S`, or on a Kafka, Redis or registry failure that is not
    transient, a LabError saying `what` failed; any other error passes through.
    """
    return retry(call, transient=transient, timeout_s=OUTAGE_TIMEOUT_S, errors=OUTAGES,
                 wait_s=0.1, max_wait_s=2.0, give_up=partial(_failed, what))


def _failed(what: str, exc: Exception) -> LabError:
    """The error that stops the run, before its batch is committed."""
    return LabError(f"{what} failed: {exc}",
                    "check the stack with `labkit stack status`; offsets were not "
                    "committed, so a restart re-reads the batch.")
