"""Plausible wrong answers to chapter 09's exercises: each is the reference solution with one
function replaced, and `exercises/graders/ch09.py` must fail it with `fails_with` in its line."""

from __future__ import annotations

from labkit.check import wrong_answer


@wrong_answer("durable_settings", fails_with="no acknowledged writes lost")
def leader_acknowledges_alone() -> dict[str, dict[str, str]]:
    """acks=1: fast, and the leader's word is all the producer waits for."""
    return {"producer": {"acks": "1", "enable.idempotence": "false"},
            "topic": {"min.insync.replicas": "2"}}


@wrong_answer("durable_settings", fails_with="min.insync.replicas")
def all_of_an_isr_of_one() -> dict[str, dict[str, str]]:
    """acks=all with min.insync.replicas=1: survives this kill, but acks=all is acks=1
    whenever the ISR has shrunk to the leader."""
    return {"producer": {"acks": "all", "enable.idempotence": "true"},
            "topic": {"min.insync.replicas": "1"}}


@wrong_answer("durable_settings", fails_with="never stored twice")
def durable_but_not_idempotent() -> dict[str, dict[str, str]]:
    """acks=all and two in-sync copies, but a retried batch is written again."""
    return {"producer": {"acks": "all", "enable.idempotence": "false"},
            "topic": {"min.insync.replicas": "2"}}


@wrong_answer("after_clean_stop", fails_with="after broker")
def leader_stays(leader: int, replicas: tuple[int, ...], isr: tuple[int, ...],
                 stopped: int) -> tuple[int, tuple[int, ...]]:
    """Drops the stopped broker from the ISR but keeps it as leader."""
    return leader, tuple(sorted(b for b in isr if b != stopped))


@wrong_answer("after_clean_stop", fails_with="after broker")
def lowest_id_leads(leader: int, replicas: tuple[int, ...], isr: tuple[int, ...],
                    stopped: int) -> tuple[int, tuple[int, ...]]:
    """Elects the lowest broker id left in the ISR, not the next replica in order."""
    remaining = sorted(b for b in isr if b != stopped)
    return (remaining[0] if leader == stopped else leader), tuple(remaining)


@wrong_answer("after_clean_stop", fails_with="after broker")
def stopped_stays_in_sync(leader: int, replicas: tuple[int, ...], isr: tuple[int, ...],
                          stopped: int) -> tuple[int, tuple[int, ...]]:
    """Moves leadership off the stopped broker but leaves it in the ISR."""
    if leader == stopped:
        leader = next(b for b in replicas if b in isr and b != stopped)
    return leader, tuple(sorted(isr))
