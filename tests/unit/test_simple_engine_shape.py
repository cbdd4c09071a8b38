"""The simple engine's loop stays in plain view: short enough to set beside notebook 04's
by-hand loop, with the hardening in sibling modules (issue 28)."""

import ast
import inspect

from labkit.engines import simple

LOOP_LINES = 40


def _lengths() -> dict[str, int]:
    tree = ast.parse(inspect.getsource(simple))
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name in (
                "run", "_loop", "process"):
            found[node.name] = node.end_lineno - node.lineno + 1
    return found


def test_the_loop_and_a_batch_each_fit_on_a_screen():
    lengths = _lengths()
    assert set(lengths) == {"run", "_loop", "process"}, "renamed? update this test"
    assert all(n <= LOOP_LINES for n in lengths.values()), lengths


def test_the_hardening_is_not_in_the_engine_module():
    """Rebuild by replay, the stages, GC and SIGTERM each have a module of their own."""
    names = set(vars(simple))
    for moved in ("rebuild", "fewer_collections", "sigterm_stops", "batches", "read_to"):
        assert f"_{moved}" not in names, f"_{moved} belongs in its sibling module"
