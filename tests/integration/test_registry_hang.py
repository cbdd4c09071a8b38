"""A schema registry that hangs mid-run: the simple engine waits for it and loses nothing.

The engine meets a schema id it has not seen while the registry is frozen
(SIGSTOP: port open, no answer). The registry client times out, labkit calls
that a `ServiceUnavailable` (transient), and the engine retries the batch until
the registry answers again, instead of crashing or dead-lettering good messages.
"""

from __future__ import annotations

import threading

import pytest

import labkit as lk
from labkit import engines, faults, generate, serde, topics
from labkit.runs import Outputs, RunReport

pytestmark = pytest.mark.integration

HALF = 1_000


def test_the_engine_retries_a_hung_registry_and_loses_nothing():
    topic = topics.fresh_topic("it-registry-hang", partitions=2)
    assert generate.produce(topic, HALF, fmt="confluent", n_cards=50) == HALF
    # The second half is written with schema v2 (a new id, registered now): the engine must
    # look it up, and that lookup is what meets the hung registry.
    encode_v2 = serde.make_encoder("confluent", schema="transactions.v2", topic=topic)
    second = [(m.key, m.value) for m in generate.messages(
        HALF, encode=encode_v2, seed=generate.LAB_SEED + 1, schema="transactions.v2",
        n_cards=50)]
    outputs = Outputs(topic, ".hang")
    reports: list[RunReport] = []
    engine = threading.Thread(target=lambda: reports.append(engines.run(
        "simple", topic, tag=outputs.tag, until_end=False, max_messages=2 * HALF)))
    engine.start()
    faults.wait_for_progress(topic, outputs.group("simple"), HALF)
    with faults.hung("registry"):
        topics.produce(topic, second)
        # Longer than the registry client gives a request (5 s timeout, 3 retries: about
        # 23 s here), so the engine has had a ServiceUnavailable and is retrying.
        engine.join(timeout=35)
        assert engine.is_alive(), "the engine ended while the registry was hung"
        assert lk.topics.committed(topic, outputs.group("simple")) == HALF
    engine.join(timeout=180)
    assert not engine.is_alive(), "the engine did not finish once the registry was back"
    (report,) = reports
    assert report.dead_letters == {}, str(report)
    assert report.feature_records == 2 * HALF, str(report)
