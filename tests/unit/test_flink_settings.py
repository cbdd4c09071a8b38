"""Flink job settings have one home, `labkit.stack.flink_settings` (issue 28).

No other labkit module builds a Flink `Configuration`, sets a key on one, or names
a Flink setting: the sources are read (ast), so a setting typed anywhere else fails
here, wherever it hides. The home itself is checked for what each job gets, with no
JVM: every job with Python runs with the lab's `JOB_SETTINGS`, the smoke test
included, and the standalone cluster's config.yaml holds them too.
"""

from __future__ import annotations

import ast
import re
import sys
import types
from pathlib import Path

import pytest
import yaml

import labkit
from labkit.settings import Settings
from labkit.stack import flink_settings
from labkit.stack.flink import Flink, _conf_dir
from labkit.stack.flink_settings import JOB_SETTINGS
from labkit.stack.jvm import avro_confluent_jar, connector_jar, labkit_flink_jar

PACKAGE = Path(labkit.__file__).parent
HOME = PACKAGE / "stack" / "flink_settings.py"
# The option families of Flink's settings for a job: config.yaml writes them nested
# ({"pipeline": {"jars": ...}}), a Configuration flat ("pipeline.jars").
JOB_FAMILIES = ("pipeline", "python", "classloader", "execution", "parallelism",
                "restart-strategy", "state", "table")
# ...and of a cluster's own, which only stack/flink.py's config.yaml writes (nested), for
# the servers; flat, they would be a job's setting.
SERVER_FAMILIES = ("rest", "jobmanager", "taskmanager")
FLINK_KEY = re.compile(rf"(?:{'|'.join(map(re.escape, JOB_FAMILIES + SERVER_FAMILIES))})"
                       r"\.[\w.-]+")
SETTERS = {"set_string", "set_integer", "set_boolean", "set_float", "set_bytearray"}
# A Flink key named outside the home on purpose, with why.
ALLOWED = {
    # A benchmark's per-run setting (`RunOptions.flink_settings`), which the home puts on
    # top of the job's own (`configuration`'s `extra`).
    ("bench/latencies.py", "python.fn-execution.bundle.time"),
}


def _called(node: ast.Call) -> str:
    return node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")


def _is_text(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def violations(source: str, where: str) -> list[str]:
    """Every place in `source` (the file `where`, relative to labkit/) that builds a Flink
    Configuration, sets a key on one, or names a Flink setting."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and _called(node) == "Configuration":
            found.append((node.lineno, "builds a Configuration"))
        elif isinstance(node, ast.Call) and _called(node) in SETTERS:
            found.append((node.lineno, f"calls {_called(node)}"))
        elif (isinstance(node, ast.Call) and _called(node) == "set" and len(node.args) == 2
              and _is_text(node.args[0])):
            found.append((node.lineno, f"sets {node.args[0].value!r}"))
        elif (_is_text(node) and FLINK_KEY.fullmatch(node.value)
              and (where, node.value) not in ALLOWED):
            found.append((node.lineno, f"names the Flink setting {node.value!r}"))
        elif isinstance(node, ast.Dict):  # config.yaml's shape: {"pipeline": {"jars": ...}}
            found += [(key.lineno, f"writes the Flink settings {key.value!r}")
                      for key, value in zip(node.keys, node.values, strict=True)
                      if key is not None and _is_text(key) and key.value in JOB_FAMILIES
                      and isinstance(value, ast.Dict)]
    return [f"labkit/{where}:{line}: {what}" for line, what in sorted(found)]


def test_no_flink_setting_is_built_outside_its_home():
    found = [line for path in sorted(PACKAGE.rglob("*.py")) if path != HOME
             for line in violations(path.read_text(), path.relative_to(PACKAGE).as_posix())]
    assert not found, "\n".join(["Flink settings belong in labkit/stack/flink_settings.py:",
                                  *found])


def test_the_check_catches_each_way_of_building_one():
    """The check can fail: each of these, anywhere but the home, is caught."""
    source = '''
from pyflink.common import Configuration
config = Configuration()
config.set_string("python.fn-execution.bundle.time", "10")
t_env.get_config().set("pipeline.name", "job")
SETTINGS = {"restart-strategy.type": "none"}
yaml = {"classloader": {"check-leaked-classloader": "false"}}
'''
    assert [line.split(": ", 1)[1] for line in violations(source, "engines/new.py")] == [
        "builds a Configuration",
        "calls set_string",
        "names the Flink setting 'python.fn-execution.bundle.time'",
        "names the Flink setting 'pipeline.name'",
        "sets 'pipeline.name'",
        "names the Flink setting 'restart-strategy.type'",
        "writes the Flink settings 'classloader'",
    ]
    allowed = 'settings = {"python.fn-execution.bundle.time": "10"}'
    assert violations(allowed, "bench/latencies.py") == []
    assert violations(allowed, "engines/flink.py") != []


def test_what_is_no_flink_setting_passes():
    """Kafka's and the SQL connector's options, docstrings and `Event.set()` are not."""
    source = '''
"""Flink's default `pipeline.auto-watermark-interval`: 200 ms."""
consumer = {"heartbeat.interval.ms": "3000", "group.id": "g"}
versions = {"python": "3.12.1"}
table = {"scan.startup.mode": "earliest-offset", "properties.group.id": "g"}
stop.set()
'''
    assert violations(source, "engines/new.py") == []


SETTINGS = Settings(home=Path("/lab"), flink="http://flink.example:8099")
CONNECTOR = f"file://{connector_jar(SETTINGS)}"
DECODERS = f"file://{avro_confluent_jar(SETTINGS)};file://{labkit_flink_jar(SETTINGS)}"


@pytest.mark.parametrize("job", [
    flink_settings.lab_job(),  # the smoke test
    flink_settings.feature_job(SETTINGS, decode_in_jvm=False),
    flink_settings.feature_job(SETTINGS, decode_in_jvm=True),
    flink_settings.feature_job(SETTINGS, decode_in_jvm=False, submitted=True),
    flink_settings.event_time_job(SETTINGS, watermark_interval_ms=50),
    flink_settings.cluster_defaults(SETTINGS),
])
def test_every_job_with_python_runs_with_the_labs_settings(job):
    assert job.items() >= JOB_SETTINGS.items()
    assert job["python.execution-mode"] == "thread"


def test_each_job_loads_the_jars_it_needs():
    def jars(job: dict[str, str]) -> str | None:
        return job.get("pipeline.jars")

    assert jars(flink_settings.lab_job()) is None  # the smoke test reads no Kafka
    assert jars(flink_settings.feature_job(SETTINGS, decode_in_jvm=False)) == CONNECTOR
    assert (jars(flink_settings.feature_job(SETTINGS, decode_in_jvm=True))
            == f"{CONNECTOR};{DECODERS}")
    # `flink run -j` ships the connector; a job needing more names it again.
    assert jars(flink_settings.feature_job(SETTINGS, decode_in_jvm=False, submitted=True)) is None
    assert (jars(flink_settings.feature_job(SETTINGS, decode_in_jvm=True, submitted=True))
            == f"{CONNECTOR};{DECODERS}")
    assert jars(flink_settings.event_time_job(SETTINGS, watermark_interval_ms=50)) == CONNECTOR
    assert jars(flink_settings.sql_job(SETTINGS, name="j", parallelism=1, cluster=False)) == \
        f"{CONNECTOR};{DECODERS}"
    assert jars(flink_settings.cluster_defaults(SETTINGS)) == CONNECTOR


def test_the_sql_job_runs_no_python_and_restarts_only_on_the_cluster():
    local = flink_settings.sql_job(SETTINGS, name="features", parallelism=2, cluster=False)
    assert local["pipeline.name"] == "features" and local["parallelism.default"] == "2"
    assert local["classloader.check-leaked-classloader"] == "false"
    assert not [key for key in local if key.startswith(("python.", "restart-strategy."))]
    assert "execution.target" not in local
    remote = flink_settings.sql_job(SETTINGS, name="features", parallelism=2, cluster=True)
    assert remote.items() - local.items() == {("execution.target", "remote"),
                                              ("rest.address", "flink.example"),
                                              ("rest.port", "8099")}


def test_a_runs_own_settings_go_on_top(monkeypatch):
    """`configuration` sets the job's settings, then the run's, which win (no JVM: a
    stand-in for PyFlink's Configuration records what is set)."""
    class Recorded(dict):
        def set_string(self, key: str, value: str) -> None:
            self[key] = value

    monkeypatch.setitem(sys.modules, "pyflink.common",
                        types.SimpleNamespace(Configuration=Recorded))
    job = flink_settings.feature_job(SETTINGS, decode_in_jvm=False)
    config = flink_settings.configuration(job, {"python.execution-mode": "process", "x.y": "1"})
    assert config == {**job, "python.execution-mode": "process", "x.y": "1"}
    assert flink_settings.configuration(job) == job


def test_the_clusters_config_holds_the_labs_job_settings(tmp_path):
    pytest.importorskip("pyflink")  # its conf/ is the config.yaml the lab's starts from
    settings = Settings(home=tmp_path)
    Flink(cluster=True).prepare(settings)
    config = yaml.safe_load((_conf_dir(settings) / "config.yaml").read_text())

    def nested(key: str) -> object:
        node = config
        for part in key.split("."):
            node = node[part]
        return node

    for key, value in flink_settings.cluster_defaults(settings).items():
        assert nested(key) == value, key
