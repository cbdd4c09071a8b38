"""labkit keeps the layers its package docstring (and the README) states.

Every import of a labkit module — at module level or inside a function — must
go to the importer's own layer or a lower one, and no two modules may import
each other in a circle. The imports are read from the source (ast), so an
import hidden inside a function counts too.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import labkit

PACKAGE = Path(labkit.__file__).parent
# Bottom to top, as in labkit/__init__.py and the README's layout table.
LAYERS = {
    "core": ["errors", "features", "processing", "partitioning"],
    "foundation": ["settings", "polling", "instruments", "verdicts"],
    "stack": ["stack"],
    "clients": ["clients", "topics", "schemas", "groups"],
    "serde": ["serde"],
    "data": ["generate", "compat"],
    "sinks": ["sinks"],
    "runs": ["runs"],
    "engines": ["engines"],
    "parity": ["parity"],
    "tools": ["bench", "conditions", "faults", "plots", "check", "event_time", "cluster",
              "replication", "ack_loss", "changelog"],
    "lessons": ["lessons"],  # above everything the pipeline is made of: nothing there imports it
    "cli": ["cli", "__main__", ""],  # "" is labkit/__init__.py itself
}
LEVEL = {top: level for level, tops in enumerate(LAYERS.values()) for top in tops}


def module_name(path: Path) -> str:
    """labkit/stack/flink.py -> "stack.flink"; labkit/__init__.py -> ""."""
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path, name: str | None = None) -> set[str]:
    """The labkit modules `path` (module `name`, by default where it lies) imports anywhere
    in it, as names like "stack.flink"."""
    name = module_name(path) if name is None else name
    here = name.split(".") if name else []
    package = here if path.name == "__init__.py" else here[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[:len(package) - (node.level - 1)]
            target = [*base, *(node.module.split(".") if node.module else [])]
            if node.module is None:  # from . import a, b: each name may be a module
                found.update(".".join([*target, alias.name]) for alias in node.names)
            else:
                found.add(".".join(target))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("labkit"):
            found.add(node.module.removeprefix("labkit").lstrip("."))
        elif isinstance(node, ast.Import):
            found.update(alias.name.removeprefix("labkit").lstrip(".") for alias in node.names
                         if alias.name == "labkit" or alias.name.startswith("labkit."))
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {name: {target for target in imports(path) if target in modules and target != name}
            for name, path in modules.items()}


def layer(module: str) -> int:
    top = module.split(".")[0]
    if top not in LEVEL:
        raise AssertionError(f"labkit/{module.replace('.', '/')} is in no layer: add it to "
                             "LAYERS here, in labkit/__init__.py and the README")
    return LEVEL[top]


def upward(edges: dict[str, set[str]]) -> list[str]:
    """Every import from a lower layer into a higher one."""
    return sorted(f"{source or 'labkit'} ({list(LAYERS)[layer(source)]}) imports {target} "
                  f"({list(LAYERS)[layer(target)]})"
                  for source, targets in edges.items() for target in targets
                  if layer(target) > layer(source))


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Import circles, each as the path that closes it (depth-first search)."""
    found, done = [], set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            found.append([*path[path.index(node):], node])
            return
        if node in done:
            return
        for target in sorted(edges.get(node, ())):
            visit(target, [*path, node])
        done.add(node)

    for node in sorted(edges):
        visit(node, [])
    return found


def test_every_module_is_in_a_layer():
    for name in graph():
        layer(name)


def test_no_import_goes_up_a_layer():
    assert upward(graph()) == []


def test_no_import_circles():
    assert circles(graph()) == []


def test_the_check_catches_an_upward_import_and_a_circle():
    """The checks can fail: an engine import in the core is caught, and so is a circle."""
    edges = graph()
    edges["features"] = edges["features"] | {"engines.simple"}
    assert any(line.startswith("features (core) imports engines.simple") for line in upward(edges))
    edges["engines.simple"] = edges["engines.simple"] | {"features"}
    assert circles(edges)


def test_an_import_inside_a_function_counts(tmp_path):
    source = tmp_path / "features.py"
    source.write_text("def f():\n    from .engines import simple\n    import labkit.bench\n")
    assert imports(source, "features") == {"engines", "bench"}
    assert imports(PACKAGE / "features.py") == set()  # the contract imports no labkit module


PURE = ("labkit.errors", "labkit.features", "labkit.processing", "labkit.partitioning")
IO_LIBRARIES = ("confluent_kafka", "redis", "requests", "fastavro", "rich", "pyflink", "numpy",
                "pandas", "yaml", "httpx", "socket")


@pytest.mark.parametrize("module", PURE)
def test_the_pure_core_loads_no_io_library(module):
    """Importing the core (what every Flink worker needs) loads nothing that talks to a server."""
    code = (f"import sys, {module}; "
            f"print(','.join(m for m in {IO_LIBRARIES!r} if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.strip()
    assert loaded == ""


# What the notebooks and exercises model payments with: the contract, the schemas as files,
# the seeded generator and its labelled messages. None of it needs a broker.
DATA_MODEL = """
import json, sys
sys.modules["confluent_kafka"] = None  # any import of the Kafka client now fails
from labkit import features, generate, processing, schemas
v1 = list(generate.transactions(300))
v2 = list(generate.transactions(300, schema="transactions.v2"))
sent = list(generate.messages(300, encode=lambda txn: json.dumps(txn).encode(), bad_share=0.3))
window = features.CardWindow(v1[0]["card_id"])
print(len(v1), len(v2), len({m.kind for m in sent}) > 1, window.update(v1[0]) is not None,
      processing.MAX_VALUE_BYTES > 0, "transactions.v2" in schemas.available("transactions"))
"""


def test_the_data_model_loads_and_generates_without_a_kafka_client():
    """The seeded generator, the schemas as files and the contract import and run with no
    Kafka client installed: only producing, consuming and the registry need one."""
    run = subprocess.run([sys.executable, "-c", DATA_MODEL], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["300", "300", "True", "True", "True", "True"]
