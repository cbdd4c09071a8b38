"""Start the embedded stack for a test run that needs it, and stop what was started.

Unit tests need nothing (tests/unit/conftest.py makes sure). If the run collects an
integration test or a notebook, the stack is brought up first (services already
running are reused and left running) and exactly the processes started here are
stopped at the end. Chapter 09's three-broker cluster is started too when the run
collects one of its tests (marked `cluster`) or its notebook.

Tests are placed by level: everything under tests/integration is marked `integration`,
nothing under tests/unit is; a run that collects a misplaced test stops before it starts.
In CI (CI set, as CI services set it), a skipped test fails: a prerequisite missing there
(redis-server, a git checkout, a stack labkit started) is a broken setup, not a pass.

Also `labkit_wheel` and `wheel_venv`: the project's wheel, built once per run,
and a venv that has labkit from that wheel only, for the tests that need labkit
somewhere the source tree is not.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

# Helpers both test levels import (tests/ is on the pythonpath): their asserts explain too.
pytest.register_assert_rewrite("exercise_grading", "stack_sockets")

from labkit import stack  # noqa: E402 (after the rewrite hook)
from labkit.errors import LabError  # noqa: E402

_started: list[str] = []
TESTS = Path(__file__).resolve().parent / "tests"
IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _needs_stack(item: pytest.Item) -> bool:
    return item.get_closest_marker("integration") is not None or item.path.suffix == ".ipynb"


def _needs_cluster(item: pytest.Item) -> bool:
    """Chapter 09's tests (marked `cluster`) and its notebook run on the Kafka cluster."""
    return item.get_closest_marker("cluster") is not None or item.path.name.startswith("09_")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    misplaced = [f"{item.nodeid}: {why}" for item in items
                 for level, marked, why in (
                     ("unit", True, "marked `integration` under tests/unit"),
                     ("integration", False, "not marked `integration` under tests/integration"))
                 if item.path.is_relative_to(TESTS / level)
                 and (item.get_closest_marker("integration") is not None) == marked]
    if misplaced:
        raise pytest.UsageError(
            "Tests placed at the wrong level:\n  " + "\n  ".join(misplaced) + "\nA test that "
            "needs the live stack goes under tests/integration, marked `integration`; one "
            "that does not goes under tests/unit.")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        _, _, reason = report.longrepr if isinstance(report.longrepr, tuple) else ("", 0, "")
        report.outcome = "failed"
        report.longrepr = (f"skipped in CI, where every prerequisite must be there: {reason}\n"
                           "(CI is set; locally, without CI, this test is skipped)")
    return report


def pytest_collection_finish(session: pytest.Session) -> None:
    if session.config.option.collectonly or not any(map(_needs_stack, session.items)):
        return
    try:
        _started.extend(stack.up(flink_cluster=True,
                                 cluster=any(map(_needs_cluster, session.items))))
    except LabError as exc:
        pytest.exit(f"could not start the lab's stack:\n{exc}", returncode=1)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _started:
        stack.down(only=list(_started))
        _started.clear()


@pytest.fixture(scope="session")
def labkit_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built from a copy of the project files (no build/ or
    egg-info lands in the repo).

    With build isolation, as `pip install .` builds: pip fetches the declared backend
    (setuptools>=68) from the package index or its cache. The venv's own setuptools
    (from `python -m venv`) cannot build a wheel without the `wheel` package, which
    the dev extras do not install.
    """
    root = Path(__file__).resolve().parent
    source = tmp_path_factory.mktemp("wheel-source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(root / name, source / name)
    shutil.copytree(root / "labkit", source / "labkit",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dist = tmp_path_factory.mktemp("wheel-dist")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                            "--disable-pip-version-check", "-q", "-w", str(dist), str(source)],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    [wheel] = dist.glob("labkit-*.whl")
    return wheel


@pytest.fixture(scope="session")
def wheel_venv(tmp_path_factory: pytest.TempPathFactory, labkit_wheel: Path) -> Path:
    """A venv with labkit installed from `labkit_wheel` alone (its bin/python imports
    labkit from there, never from the source tree).

    Its dependencies are this venv's site-packages, added as a plain path entry (a
    `.pth` line): .pth files inside that folder are not processed, so the editable
    install of the source tree is not on the path. Installing the pinned
    dependencies afresh would download and unpack about 1 GB (PyFlink, Beam) and take
    over a minute; tests/unit/test_wheel.py checks instead that the wheel declares
    every package labkit imports, pinned to the versions used here.
    """
    venv = tmp_path_factory.mktemp("wheel-venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    installed = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                                "--no-deps", "--disable-pip-version-check", "-q",
                                str(labkit_wheel)], capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    purelib = subprocess.run([str(python), "-c", "import sysconfig; "
                              "print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    deps = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    (Path(purelib) / "labkit_test_deps.pth").write_text("".join(f"{path}\n" for path in deps))
    return venv
