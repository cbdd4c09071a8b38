"""`faults.start_engine` writes the engine's output to a file, never to a pipe nobody reads.

A full pipe (64 KiB) blocks the engine in mid-write; during a broker restart
librdkafka's connection errors fill one (notebook 06, section 3, hung on it).
"""

import pytest

import labkit as lk
from labkit import faults
from labkit.settings import get_settings

pytestmark = pytest.mark.integration


def test_the_engine_output_is_in_a_log_file_and_readable_as_stdout():
    topic = lk.topics.fresh_topic("it-engine-output")
    lk.generate.produce(topic, 200, fmt="confluent")
    engine = faults.start_engine(topic, tag=".out")
    assert engine.wait(timeout=120) == 0
    output = engine.stdout.read()
    assert "input 200 = feature records 200" in output
    assert (get_settings().log_dir / f"engine-{topic}.out-0.log").read_text() == output
