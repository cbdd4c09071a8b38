"""What the two levels of the graders' tests share: which graders need no stack, the stubs
as committed, and a solution with one wrong answer in it.

tests/unit/test_graders.py grades the exercises in STACK_FREE without the stack (its
guard would fail a grader that reached for Kafka, Redis or the registry);
tests/integration/test_exercises.py grades every other exercise on the live stack.
Importable from both levels: pyproject.toml puts tests/ on pytest's pythonpath.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

from labkit import check

# chapter -> the exercises whose graders make their own inputs and call no service.
STACK_FREE = {
    "04": frozenset({"txn_count_10m"}),
    "05": frozenset({"nearest_rank"}),
    "08": frozenset({"tumbling_window", "watermarks"}),
    "10": frozenset({"partitions_for_growth"}),
}


def stack_free(chapter: str, exercise: str) -> bool:
    return exercise in STACK_FREE.get(chapter, frozenset())


def _committed_stubs(tmp_path: Path) -> Path:
    """exercises/ as committed: the graders, and each stub from git (not the working copy)."""
    folder = tmp_path / "exercises"
    shutil.copytree(check.EXERCISES_DIR / "graders", folder / "graders")
    for path in check.EXERCISES_DIR.glob("ch*_*.py"):
        relative = path.relative_to(check.EXERCISES_DIR.parent)
        shown = subprocess.run(["git", "show", f"HEAD:{relative}"], capture_output=True,
                               cwd=check.EXERCISES_DIR.parent)
        (folder / path.name).write_bytes(shown.stdout if shown.returncode == 0
                                         else path.read_bytes())
    return folder


@functools.cache
def solution(chapter: str) -> ModuleType:
    return check.load(chapter, solutions=True)


def with_wrong_answer(chapter: str, answer: check.WrongAnswer) -> ModuleType:
    """The reference solution with one function replaced by the wrong answer."""
    module = ModuleType(f"lab_wrong_ch{chapter}_{answer.name}")
    vars(module).update({name: value for name, value in vars(solution(chapter)).items()
                         if not name.startswith("__")})
    setattr(module, answer.exercise, answer.function)
    return module


def wrong_answers(*, without_stack: bool) -> list[tuple[str, check.WrongAnswer]]:
    """(chapter, answer) of every listed wrong answer whose grader needs no stack, or needs it."""
    return [(chapter, answer) for chapter in check.chapters()
            for answer in check.wrong_answers(chapter)
            if stack_free(chapter, answer.exercise) == without_stack]


def assert_fail_on_the_stubs(chapter: str, exercises: set[str], tmp_path: Path) -> None:
    """The graders of `exercises` fail each untouched stub, as committed (so a learner's own
    answers never break `make test`), for not being written yet."""
    folder = _committed_stubs(tmp_path)
    grades = check.grade(chapter, check.load(chapter, directory=folder), only=exercises,
                         directory=folder)
    assert {grade.exercise for grade in grades} == exercises
    for grade in grades:
        assert not grade.passed, f"{grade.exercise}: its grader passes on the stub"
        assert "not written yet" in grade.detail, str(grade)


def assert_rejects(chapter: str, answer: check.WrongAnswer) -> None:
    """The grader fails the solution with `answer` in it, with the FAIL line that names it."""
    [grade] = check.grade(chapter, with_wrong_answer(chapter, answer), only={answer.exercise})
    assert not grade.passed, f"the grader of {answer.exercise} passes {answer.mistake!r}"
    assert not grade.detail.startswith("the grader could not use"), str(grade)  # a grader bug
    assert answer.fails_with in grade.detail, f"{answer.mistake!r} fails, but not for that " \
        f"reason:\n{grade}"
