"""One engine interface: every engine is reached through the registry, and an option
an engine does not take is refused, never silently ignored (no server needed: the
refusal comes before any I/O)."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest
from typer.testing import CliRunner

from labkit import bench, engines
from labkit.cli import app
from labkit.engines.flink_sql import sql_outputs
from labkit.engines.floors import FLOORS
from labkit.errors import LabError
from labkit.runs import Outputs, RunOptions, RunReport

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
    (["bench", "run", "--engine", "simple", "--flink-cluster", "--topic", "t"],
     "--flink-cluster"),
    (["bench", "run", "--engine", "ceiling", "-p", "2", "--topic", "t"], "--parallelism"),
    (["bench", "run", "--engine", "flink", "--only", "0", "--topic", "t"], "--only"),
])
def test_bench_run_refuses_a_flag_the_engine_ignores(argv, refused):
    result = runner.invoke(app, argv)
    assert result.exit_code == 1, result.output
    assert refused in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(("argv", "refused"), [
    (["bench", "scale-out", "--engine", "flink"], "--engine"),
    (["bench", "scale-out", "-p", "2"], "-p"),
    (["bench", "scale-out", "--pin"], "--pin"),
    (["bench", "latency", "--engine", "flink"], "--engine"),
    (["bench", "latency", "--only", "0"], "--only"),
    (["bench", "suite", "--engine", "flink-sql"], "--engine"),
    (["bench", "report", "--suite"], "--suite"),
])
def test_each_bench_subcommand_takes_only_its_own_options(argv, refused):
    """A flag another mode would need does not exist here: none is silently ignored."""
    result = runner.invoke(app, argv)
    assert result.exit_code == 2, result.output
    assert f"No such option: {refused}" in result.output


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


def test_each_engine_says_where_it_writes():
    assert engines.get("simple").outputs("payments", ".a") == Outputs("payments", ".a")
    assert engines.get("flink").outputs("payments", ".a") == Outputs("payments", ".a")
    assert engines.get("flink-sql").outputs("payments", ".a") == sql_outputs("payments", ".a")
    assert [e.name for e in engines.ENGINES.values() if e.outputs("t").late_topic] == ["flink-sql"]


def test_the_floors_are_not_engines():
    assert not set(FLOORS) & set(engines.ENGINES)
    with pytest.raises(LabError, match="Unknown engine 'ceiling'"):
        engines.get("ceiling")
    for floor in FLOORS.values():
        assert floor.takes <= set(RunOptions.__dataclass_fields__), floor.name
        assert not floor.flink  # in this process, like the simple engine: pinnable


# --- nothing outside the registry tells engines apart by name ---------------------------

NAMES = frozenset({*engines.ENGINES, *FLOORS})
REGISTRIES = frozenset({"ENGINES", "FLOORS"})
ROOT = Path(bench.__file__).parents[1]  # labkit/


def _names_an_engine(node: ast.AST, bound: set[str]) -> bool:
    """An engine's or a floor's name as a literal, a name bound to one, or a collection
    holding one."""
    if isinstance(node, ast.Constant):
        return node.value in NAMES
    if isinstance(node, ast.Name):
        return node.id in bound
    if isinstance(node, ast.Starred):
        return _names_an_engine(node.value, bound)
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return any(_names_an_engine(element, bound) for element in node.elts)
    return False


def _holds_an_engine(node: ast.AST) -> bool:
    """What holds a run's engine name: `engine`, `x.engine`, `x["engine"]`."""
    return ((isinstance(node, ast.Name) and node.id == "engine")
            or (isinstance(node, ast.Attribute) and node.attr == "engine")
            or (isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant)
                and node.slice.value == "engine"))


def _asks_a_registry(node: ast.Compare) -> bool:
    """`name in ENGINES` (or FLOORS, or `x.ENGINES`), or `name is None`: no name compared."""
    right = node.comparators[-1]
    registry = ((isinstance(right, ast.Name) and right.id in REGISTRIES)
                or (isinstance(right, ast.Attribute) and right.attr in REGISTRIES))
    nothing = isinstance(right, ast.Constant) and right.value is None
    return len(node.ops) == 1 and (
        (registry and isinstance(node.ops[0], ast.In | ast.NotIn))
        or (nothing and isinstance(node.ops[0], ast.Is | ast.IsNot)))


def _bound_names(tree: ast.AST) -> set[str]:
    """Names assigned an engine's name anywhere in `tree` (CEILING = "ceiling")."""
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                pairs = (zip(target.elts, node.value.elts, strict=False)
                         if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple)
                         else [(target, node.value)])
                bound.update(name.id for name, value in pairs
                             if isinstance(name, ast.Name) and _names_an_engine(value, set()))
    return bound


def name_branches(tree: ast.AST, bound: set[str] | None = None) -> list[str]:
    """Every place in `tree` that decides by an engine's name rather than by asking the
    registry: a comparison with an engine's name (or what holds one), a `case` on one,
    or `engine.startswith(...)`."""
    bound = _bound_names(tree) if bound is None else bound
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(_names_an_engine(side, bound) for side in sides) or (
                    any(map(_holds_an_engine, sides)) and not _asks_a_registry(node)):
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.MatchValue) and _names_an_engine(node.value, bound):
            found.append(f"line {node.lineno}: case {ast.unparse(node.value)}")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr in ("startswith", "endswith")
              and _holds_an_engine(node.func.value)):
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def _a_bench_command(node: ast.FunctionDef) -> bool:
    """Decorated `@bench_app.command(...)`: a `labkit bench` subcommand."""
    return any(isinstance(decorator, ast.Call) and ast.unparse(decorator.func)
               == "bench_app.command" for decorator in node.decorator_list)


def _cli_commands() -> tuple[list[ast.FunctionDef], set[str]]:
    """`labkit process` and every `labkit bench` subcommand, and the names cli.py binds."""
    tree = ast.parse((ROOT / "cli.py").read_text())
    return ([node for node in tree.body if isinstance(node, ast.FunctionDef)
             and (node.name == "process" or _a_bench_command(node))], _bound_names(tree))


def test_the_benchmarks_never_tell_engines_apart_by_name():
    modules = sorted((ROOT / "bench").glob("*.py"))
    assert [path.name for path in modules if path.name != "__init__.py"]
    assert [f"{path.name} {line}" for path in modules
            for line in name_branches(ast.parse(path.read_text()))] == []


def test_the_cli_bench_and_process_never_tell_engines_apart_by_name():
    commands, bound = _cli_commands()
    assert [command.name for command in commands] == [
        "process", "bench_run", "bench_latency", "bench_scale_out", "bench_suite",
        "bench_report"]
    assert [line for command in commands for line in name_branches(command, bound)] == []


@pytest.mark.parametrize("source", [
    'if engine == "flink-sql": pass',
    'x = 1 if row["engine"] in ("ceiling", "passthrough") else 2',
    'CEILING = "ceiling"\nif result.engine != CEILING: pass',
    'A, B = "ceiling", "passthrough"\nok = name in (A, "simple")',
    'def f(engine, n): return lambda row: row["engine"] == engine',
    'match engine:\n    case "simple": pass',
    'if engine.startswith("flink"): pass',
])
def test_the_check_catches_a_name_branch(source):
    assert name_branches(ast.parse(source))


@pytest.mark.parametrize("source", [
    'if row["engine"] in FLOORS: pass',
    'if engine not in engines.ENGINES: pass',
    'if engine is not None: pass',
    'run("simple", topic=topic)',
    'rows = {"engine": "passthrough"}',
])
def test_asking_the_registry_or_naming_an_engine_to_run_is_no_branch(source):
    assert name_branches(ast.parse(source)) == []
