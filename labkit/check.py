"""Grading the exercises: `labkit check NN` runs chapter NN's graders on your code.

    exercises/chNN_<topic>.py            your file: stubs that raise NotImplementedError
    exercises/solutions/chNN_<topic>.py  the reference solutions, same functions
    exercises/graders/chNN.py            one grader per exercise

A grader (`@grader`) takes the module under test, calls the exercise with
inputs it makes on the live stack, and raises `Wrong` with what it expected
and what it got. The same grader runs on your file and on the solution, so CI
can prove it passes on one and fails on the untouched stub (as in
apache/flink-training: one test, either implementation).
"""

from __future__ import annotations

import importlib.util
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from .errors import LabError
from .settings import REPO_ROOT

__all__ = ["EXERCISES_DIR", "Grade", "Grader", "Wrong", "chapters", "check", "grader"]

# In the clone: the exercises are the learner's files, not part of the installed package.
EXERCISES_DIR = REPO_ROOT / "exercises"


class Wrong(AssertionError):
    """What a grader raises when an answer is wrong: what it expected, what it got."""

    def __init__(self, what: str, *, expected: object = None, got: object = None) -> None:
        self.what, self.expected, self.got = what, expected, got
        detail = what if expected is None and got is None else \
            f"{what}: expected {expected!r}, got {got!r}"
        super().__init__(detail)


@dataclass(frozen=True)
class Grader:
    """One exercise's check: its function name in the exercise file, and a hint."""

    exercise: str
    hint: str
    grade: Callable[[ModuleType], None]


def grader(exercise: str, *, hint: str) -> Callable[[Callable[[ModuleType], None]], Grader]:
    """Mark a function as the grader of `exercise` (the function the learner writes)."""
    def wrap(grade: Callable[[ModuleType], None]) -> Grader:
        return Grader(exercise, hint, grade)
    return wrap


@dataclass(frozen=True)
class Grade:
    """One exercise's result: passed, or why not and a hint."""

    chapter: str
    exercise: str
    passed: bool
    detail: str = ""
    hint: str = ""

    def __str__(self) -> str:
        if self.passed:
            return f"PASS  {self.chapter} {self.exercise}"
        return f"FAIL  {self.chapter} {self.exercise}: {self.detail}\n      hint: {self.hint}"


def chapters(directory: Path = EXERCISES_DIR) -> list[str]:
    """The chapters that have graders: ["01", "02", ...]."""
    return sorted(path.stem.removeprefix("ch") for path in (directory / "graders").glob("ch*.py"))


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise LabError(f"Cannot load {path}.", "check the file exists and is Python.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look modules up by name
    spec.loader.exec_module(module)
    return module


def _exercise_file(chapter: str, folder: Path) -> Path:
    found = sorted(folder.glob(f"ch{chapter}_*.py"))
    if len(found) != 1:
        raise LabError(f"Expected one exercise file {folder}/ch{chapter}_*.py, found "
                       f"{len(found)}.", "restore it from git (`git checkout exercises/`).")
    return found[0]


def _graders(chapter: str, directory: Path) -> list[Grader]:
    path = directory / "graders" / f"ch{chapter}.py"
    if not path.exists():
        raise LabError(f"Chapter {chapter!r} has no exercises.",
                       f"pick one of: {', '.join(chapters(directory))}.")
    module = _load(path, f"lab_grader_ch{chapter}")
    return [value for value in vars(module).values() if isinstance(value, Grader)]


def _grade(chapter: str, grader: Grader, module: ModuleType) -> Grade:
    """Run one grader on `module` (the learner's file or the solution)."""
    fail = {"chapter": chapter, "exercise": grader.exercise, "passed": False,
            "hint": grader.hint}
    try:
        grader.grade(module)
    except NotImplementedError:
        return Grade(**fail, detail="not written yet (the stub raises NotImplementedError)")
    except Wrong as wrong:
        return Grade(**fail, detail=str(wrong))
    except LabError as error:  # the stack is down, say: not the learner's fault, but say so
        return Grade(**fail, detail=f"{error.cause} (fix: {error.fix})")
    except Exception as exc:  # the learner's code crashed: show where, not a wall of trace
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return Grade(**fail, detail=f"{type(exc).__name__}: {exc} "
                     f"(at {Path(where.filename).name}:{where.lineno})")
    return Grade(chapter, grader.exercise, True)


def check(chapter: str, *, solutions: bool = False,
          directory: Path = EXERCISES_DIR) -> list[Grade]:
    """Grade chapter `chapter`'s exercises: yours, or with `solutions` the reference ones."""
    chapter = f"{int(chapter):02d}" if chapter.isdigit() else chapter
    graders = _graders(chapter, directory)
    folder = directory / "solutions" if solutions else directory
    module = _load(_exercise_file(chapter, folder),
                   f"lab_{'solution' if solutions else 'exercise'}_ch{chapter}")
    return [_grade(chapter, one, module) for one in graders]
