"""The wheel is the package: every module and every schema ships in it.

Builds the project's wheel, installs it (without dependencies) into a fresh venv
and imports every module from there, outside the repository. The project's
dependencies come from the running interpreter's site-packages as a plain path
entry (a `.pth` line): .pth files inside that folder are not processed, so the
editable install of the source tree is not on the path, and any module or schema
missing from the wheel fails the import or the load.

The build runs with build isolation, as `pip install .` does, so pip fetches the
declared build backend (setuptools) from the package index (or pip's cache).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

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


def _build_wheel(tmp_path: Path) -> Path:
    """Build from a copy of the project files, so no build/ or egg-info lands in the repo."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "setup.py", "setup.cfg", "MANIFEST.in"):
        if (REPO_ROOT / name).exists():
            shutil.copy2(REPO_ROOT / name, source / name)
    shutil.copytree(REPO_ROOT / "labkit", source / "labkit",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dist = tmp_path / "dist"
    # With build isolation, as `pip install .` builds: pip fetches the declared backend
    # (setuptools>=68). The venv's own setuptools (65.5, from `python -m venv`) cannot build a
    # wheel without the `wheel` package, which the dev extras do not install.
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-q",
         "-w", dist, source)
    [wheel] = dist.glob("labkit-*.whl")
    return wheel


def test_the_wheel_ships_every_module_and_schema(tmp_path):
    wheel = _build_wheel(tmp_path)

    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    _run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps",
         "--disable-pip-version-check", "-q", wheel)
    site_packages = Path(_run(python, "-c", "import sysconfig; "
                              "print(sysconfig.get_paths()['purelib'])").stdout.strip())
    deps = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    (site_packages / "labkit_test_deps.pth").write_text("".join(f"{path}\n" for path in deps))

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
