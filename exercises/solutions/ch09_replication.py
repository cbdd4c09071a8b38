"""Reference solutions for chapter 09 (replication and durability)."""

from __future__ import annotations


def durable_settings() -> dict[str, dict[str, str]]:
    return {"producer": {"acks": "all", "enable.idempotence": "true"},
            "topic": {"min.insync.replicas": "2"}}


def after_clean_stop(leader: int, replicas: tuple[int, ...], isr: tuple[int, ...],
                     stopped: int) -> tuple[int, tuple[int, ...]]:
    remaining = [broker for broker in isr if broker != stopped]
    if leader == stopped:
        leader = next(broker for broker in replicas if broker in remaining)
    return leader, tuple(sorted(remaining))
