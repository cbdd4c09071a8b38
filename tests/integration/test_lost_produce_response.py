"""A produce response lost on the way back, staged on the lab's 3-broker cluster (notebook 09).

One proxy per broker sits on its advertised PROXIED address (`proxy_routes`); the one
in front of the topic's leader loses one produce response after the broker wrote the
batch. The producer sends the batch again: without idempotence the log holds it twice,
with it the broker drops the retry by its sequence number.
"""

from __future__ import annotations

import pytest

from labkit import topics
from labkit.ack_loss import duplicates_after_lost_ack, proxy_routes
from labkit.settings import get_settings

pytestmark = [pytest.mark.integration, pytest.mark.cluster]


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> str:
    """The cluster's bootstrap list. `fresh_topic` creates its topic where LAB_KAFKA points,
    so for this test that is the cluster, not the lab's single broker."""
    bootstrap = get_settings().cluster
    monkeypatch.setenv("LAB_KAFKA", bootstrap)
    return bootstrap


def test_without_idempotence_the_retried_batch_is_written_twice(cluster):
    topic = topics.fresh_topic("it-ack-loss", partitions=1)
    result = duplicates_after_lost_ack(topic, idempotent=False, routes=proxy_routes(cluster))
    assert result.dropped == 1
    assert result.acknowledged == result.distinct == result.sent  # every record, acked and in
    assert result.duplicates > 0
    assert result.in_log == result.sent + result.duplicates


def test_with_idempotence_the_broker_drops_the_retry(cluster):
    topic = topics.fresh_topic("it-ack-loss", partitions=1)
    result = duplicates_after_lost_ack(topic, idempotent=True, routes=proxy_routes(cluster))
    assert result.dropped == 1  # the same loss was staged
    assert result.acknowledged == result.distinct == result.in_log == result.sent
    assert result.duplicates == 0
