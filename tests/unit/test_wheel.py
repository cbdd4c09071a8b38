"""The wheel is the package: every module and every schema ships in it.

Builds the project's wheel, installs it (without dependencies) into a fresh venv
and imports every module from there, outside the repository. The project's
dependencies come from the running interpreter's site-packages as a plain path
entry (a `.pth` line): .pth files inside that folder are not processed, so the
editable install of the source tree is not on the path, and any module or schema
missing from the wheel fails the import or the load.

The wheel is the `labkit_wheel` fixture's (conftest.py): built with build
isolation, as `pip install .` does.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = REPO_ROOT / "labkit" / "avro_schemas"

# Runs inside the fresh venv: walk the installed package, import every module, load every
# schema, and report where each came from.
PROBE = r"""
import importlib, importlib.util, json, pkgutil, sys
import labkit
from labkit import schemas

def fail(name):
    raise ImportError(f"walking {name} failed")

names = ["labkit"] + [info.name for info in pkgutil.walk_packages(labkit.__path__, "labkit.",
                                                                  onerror=fail)]
files = {}
for name in names:
    if name.rsplit(".", 1)[-1] == "__main__":  # `python -m labkit`: importing it runs the CLI
        files[name] = importlib.util.find_spec(name).origin
    else:
        files[name] = importlib.import_module(name).__file__
shipped = schemas.available()
for name in {*shipped, "transactions.v1", "features.v1"}:
    schemas.parsed(name)  # loads the .avsc through importlib.resources, then parses it
print(json.dumps({"files": files, "schemas": shipped, "schema_dir": str(schemas.SCHEMA_DIR),
                  "path": sys.path}))
"""


def _source_modules() -> set[str]:
    """Every module of labkit in the source tree, from the files (nothing imported)."""
    found = set()
    for path in (REPO_ROOT / "labkit").rglob("*.py"):
        parts = path.relative_to(REPO_ROOT).with_suffix("").parts
        found.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


def _run(*args: str | Path, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([str(arg) for arg in args], capture_output=True, text=True,
                            timeout=120, **kwargs)
    shown = " ".join(str(arg) if "\n" not in str(arg) else "<script>" for arg in args)
    assert result.returncode == 0, f"{shown}\n{result.stdout}\n{result.stderr}"
    return result


def test_the_wheel_ships_every_module_and_schema(tmp_path, wheel_venv):
    venv = wheel_venv
    python = venv / "bin" / "python"

    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    report = json.loads(_run(python, "-c", PROBE, cwd=cwd, env=env).stdout.splitlines()[-1])

    venv_root = venv.resolve()
    outside = {name: file for name, file in report["files"].items()
               if not Path(file).resolve().is_relative_to(venv_root)}
    assert outside == {}, f"imported from outside the fresh venv; its sys.path: {report['path']}"
    assert set(report["files"]) == _source_modules()
    assert Path(report["schema_dir"]).resolve().is_relative_to(venv_root)
    in_source = sorted(path.name.removesuffix(".avsc") for path in SCHEMAS.glob("*.avsc"))
    assert report["schemas"] == in_source
    assert {"transactions.v1", "features.v1"} <= set(report["schemas"])


def test_the_repository_schemas_folder_is_the_package_data():
    """Docs say `schemas/...`: the root folder is a link to the files the package ships."""
    assert (REPO_ROOT / "schemas").is_symlink()
    assert (REPO_ROOT / "schemas").resolve() == SCHEMAS.resolve()


def _imported_top_level_names() -> set[str]:
    """Every module name labkit imports (at the top or inside functions), first part only."""
    names = set()
    for path in (REPO_ROOT / "labkit").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def _wheel_requirements(wheel: Path) -> list[Requirement]:
    """The wheel's own Requires-Dist, extras (dev) left out."""
    with zipfile.ZipFile(wheel) as archive:
        [metadata] = [name for name in archive.namelist() if name.endswith(".dist-info/METADATA")]
        lines = archive.read(metadata).decode().splitlines()
    found = [Requirement(line.removeprefix("Requires-Dist:")) for line in lines
             if line.startswith("Requires-Dist:")]
    return [req for req in found if req.marker is None or req.marker.evaluate({"extra": ""})]


def _installed_with_dependencies(requirements: list[Requirement]) -> set[str]:
    """The distributions `requirements` bring, theirs included (extras followed), by the
    metadata of what is installed here."""
    found: set[str] = set()
    todo = list(requirements)
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        extras = frozenset(req.extras)
        if (name, extras) in found:
            continue
        found.add((name, extras))
        for line in importlib.metadata.requires(name) or []:
            sub = Requirement(line)
            if sub.marker is None or any(sub.marker.evaluate({"extra": extra})
                                         for extra in ("", *extras)):
                todo.append(sub)
    return {name for name, _extras in found}


def test_the_wheel_declares_every_package_labkit_imports_at_the_version_used_here(labkit_wheel):
    """What a venv built from the wheel alone would install is what labkit needs (the
    `wheel_venv` fixture borrows this venv's packages instead of installing them)."""
    requirements = _wheel_requirements(labkit_wheel)
    brought = _installed_with_dependencies(requirements)
    third_party = _imported_top_level_names() - set(sys.stdlib_module_names) - {"labkit"}
    providers = importlib.metadata.packages_distributions()
    undeclared = {name: providers.get(name) for name in third_party
                  if not {canonicalize_name(d) for d in providers.get(name, [])} & brought}
    assert undeclared == {}, "labkit imports these, and the wheel does not bring them"
    wrong = {req.name: (str(req.specifier), importlib.metadata.version(req.name))
             for req in requirements
             if importlib.metadata.version(req.name) not in req.specifier}
    assert wrong == {}, "pinned (wheel) vs installed (this venv)"
