"""One engine interface: every engine is reached through the registry, and an option
an engine does not take is refused, never silently ignored (no server needed: the
refusal comes before any I/O)."""

from __future__ import annotations

import importlib
import inspect

import pytest
from typer.testing import CliRunner

from labkit import bench, engines
from labkit.cli import app
from labkit.errors import LabError
from labkit.runs import RunOptions, RunReport

runner = CliRunner()


def test_every_engine_module_has_the_one_run_signature():
    for engine in engines.ENGINES.values():
        module = importlib.import_module(f"labkit.engines.{engine.module}")
        signature = inspect.signature(module.run)
        assert list(signature.parameters) == ["topic", "options"], engine.name
        assert signature.return_annotation in ("RunReport", RunReport), engine.name


def test_every_option_an_engine_takes_is_a_run_option():
    known = set(RunOptions.__dataclass_fields__)
    for engine in engines.ENGINES.values():
        assert engine.takes <= known, engine.name


def test_an_unknown_engine_is_a_lab_error():
    with pytest.raises(LabError,
                       match=r"(?s)Unknown engine 'spark'.*simple, flink, flink-jvm, flink-sql"):
        engines.get("spark")


def test_an_unknown_option_is_a_lab_error_not_a_type_error():
    with pytest.raises(LabError, match="Not a run option"):
        engines.run("simple", "payments", workers=4)


@pytest.mark.parametrize(("engine", "option", "value", "flag"), [
    ("simple", "cluster", True, "--flink-cluster"),
    ("simple", "parallelism", 2, "--parallelism"),
    ("flink", "partitions", [0], "--only"),
    ("flink", "stopwatch", object(), None),
    ("flink", "from_beginning", False, "--from-committed"),
    ("flink", "rebuild", False, "--no-rebuild"),
    ("flink-sql", "rebuild", False, "--no-rebuild"),
    ("flink-sql", "group", "g", "--group"),
])
def test_an_option_the_engine_does_not_take_is_refused(engine, option, value, flag):
    with pytest.raises(LabError, match=f"`{option}`.*does not apply to the {engine} engine") \
            as error:
        engines.run(engine, "payments", **{option: value})
    if flag:
        assert flag in error.value.cause
    assert "use an engine that takes it" in error.value.fix


def test_an_option_left_at_its_default_is_fine_for_any_engine():
    for engine in engines.ENGINES.values():
        engine.check(RunOptions(tag=".x", group=None, parallelism=1, cluster=False))


@pytest.mark.parametrize("argv", [
    ["process", "--topic", "t", "--engine", "simple", "--flink-cluster"],
    ["process", "--topic", "t", "--engine", "flink", "--from-committed"],
    ["process", "--topic", "t", "--engine", "flink-sql", "--no-rebuild"],
    ["process", "--topic", "t", "--engine", "simple", "-p", "2"],
])
def test_process_refuses_a_flag_the_engine_ignores(argv):
    result = runner.invoke(app, argv)
    assert result.exit_code == 1
    assert "does not apply to the" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(("argv", "refused"), [
    (["bench", "--engine", "flink", "--processes", "2"], "--engine"),
    (["bench", "--processes", "2", "-p", "2"], "--parallelism"),
    (["bench", "--engine", "flink", "--rate", "100"], "--engine"),
    (["bench", "--rate", "100", "--only", "0"], "--only"),
    (["bench", "--suite", "--engine", "flink-sql"], "--engine"),
    (["bench", "--engine", "simple", "--flink-cluster", "--topic", "t"], "--flink-cluster"),
    (["bench", "--engine", "ceiling", "-p", "2", "--topic", "t"], "--parallelism"),
    (["bench", "--engine", "flink", "--only", "0", "--topic", "t"], "--only"),
])
def test_bench_refuses_a_flag_it_would_ignore(argv, refused):
    result = runner.invoke(app, argv)
    assert result.exit_code == 1, result.output
    assert refused in result.output
    assert "Traceback" not in result.output


def test_bench_knows_every_registered_engine_and_the_floors():
    assert ("ceiling", "passthrough", *engines.ENGINES) == bench.ENGINES


def test_process_refuses_to_follow_with_flink_as_it_could_not_stop():
    """`--follow` applies to Flink, but the command line has no count to stop at."""
    result = runner.invoke(app, ["process", "--topic", "t", "--engine", "flink", "--follow"])
    assert result.exit_code == 1 and "max_messages" in result.output


@pytest.mark.parametrize("engine", ["flink", "flink-sql"])
@pytest.mark.parametrize(("options", "says"), [
    ({"until_end": False, "max_messages": 10, "cluster": True}, "standalone cluster"),
    ({"until_end": False}, "max_messages"),
    ({"flink_settings": {"python.fn-execution.bundle.time": "10"}, "cluster": True},
     "mini-cluster only"),
])
def test_a_flink_run_that_could_not_stop_or_apply_its_settings_is_refused(engine, options, says):
    with pytest.raises(LabError, match=says):
        engines.run(engine, "payments", **options)
