"""One flag table (`runs.RUN_FLAGS`): every run option the command line sets is written
as argv (`to_argv`) and read back by `labkit process` to the same option, and every
`RunOptions` field is either in the table or explicitly Python-only (no server needed:
the engine's run is replaced before any I/O)."""

from __future__ import annotations

import sys
from dataclasses import fields, replace
from types import SimpleNamespace

import pytest
import typer
from typer.testing import CliRunner

from labkit import engines, faults
from labkit.cli import app
from labkit.errors import LabError
from labkit.runs import PYTHON_ONLY, RUN_FLAGS, Outputs, RunOptions, RunReport, to_argv

runner = CliRunner()

# A value other than the default for every option in the table.
SAMPLES = {"from_beginning": False, "until_end": False, "group": "g", "partitions": [0, 2],
           "tag": ".x", "parallelism": 3, "cluster": True, "rebuild": False,
           "guarantee": "exactly-once", "instance": "b", "crash_in_batch": 2,
           "pause_after": 5, "members": 2}


def parsed(monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> RunOptions:
    """The RunOptions `labkit process --topic t <argv>` hands the simple engine."""
    seen: list[RunOptions] = []

    def record(engine: engines.Engine, topic: str, options: RunOptions) -> RunReport:
        seen.append(options)
        return RunReport(engine.name, 0, 0, {}, outputs=Outputs(topic))

    monkeypatch.setattr(engines.Engine, "run", record)
    result = runner.invoke(app, ["process", "--topic", "t", *argv])
    assert result.exit_code == 0, result.output
    return replace(seen[0], progress=False)  # `process` shows a bar where the engine has one


def test_every_run_option_is_in_the_flag_table_or_python_only():
    assert not set(RUN_FLAGS) & PYTHON_ONLY
    assert set(RUN_FLAGS) | PYTHON_ONLY == {option.name for option in fields(RunOptions)}


def test_every_flag_has_a_sample_away_from_its_default():
    assert set(SAMPLES) == set(RUN_FLAGS)
    assert set(RunOptions(**SAMPLES).changed()) == set(SAMPLES)


@pytest.mark.parametrize("option", sorted(SAMPLES))
def test_one_option_round_trips_through_argv(monkeypatch, option):
    options = RunOptions(**{option: SAMPLES[option]})
    assert parsed(monkeypatch, to_argv(options)) == options


def test_every_option_at_once_round_trips_through_argv(monkeypatch):
    options = RunOptions(**SAMPLES)
    assert parsed(monkeypatch, to_argv(options)) == options


def test_defaults_write_no_flags_and_read_back_as_defaults(monkeypatch):
    assert to_argv(RunOptions()) == []
    assert parsed(monkeypatch, []) == RunOptions()


@pytest.mark.parametrize("option", sorted(PYTHON_ONLY))
def test_an_option_only_python_sets_has_no_argv(option):
    with pytest.raises(LabError, match=f"`{option}` has no command-line flag"):
        to_argv(RunOptions(**{option: object()}))


def test_process_options_are_generated_from_the_table_and_name_their_engines():
    command = typer.main.get_command(app).commands["process"]
    params = {param.name: param for param in command.params}
    for name, flag in RUN_FLAGS.items():
        on, _, off = flag.names.partition("/")
        assert on in params[name].opts and (not off or off in params[name].secondary_opts)
        assert params[name].help.endswith(f"Engines: {', '.join(engines.takers(name))}.")


def test_an_option_is_described_with_its_flags_from_the_table():
    assert RunOptions.describe("until_end") == "`until_end` (--until-end/--follow)"
    assert RunOptions.describe("partitions") == "`partitions` (--only)"
    assert RunOptions.describe("stopwatch") == "`stopwatch`"


def test_start_engine_writes_its_argv_with_the_table(monkeypatch):
    started: list[list[str]] = []
    monkeypatch.setattr(faults.subprocess, "Popen",
                        lambda argv, **_: started.append(argv) or SimpleNamespace())
    faults.start_engine("t", tag=".a", until_end=False, rebuild=False, pause_after=5)
    options = RunOptions(tag=".a", until_end=False, rebuild=False, pause_after=5)
    assert started == [[sys.executable, "-m", "labkit", "process", "--topic", "t",
                        "--engine", "simple", *to_argv(options)]]


def test_start_engine_refuses_an_option_before_starting_anything(monkeypatch):
    monkeypatch.setattr(faults.subprocess, "Popen", pytest.fail)
    with pytest.raises(LabError, match="does not apply to the simple engine"):
        faults.start_engine("t", cluster=True)
