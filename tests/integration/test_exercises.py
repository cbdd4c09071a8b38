"""Every grader can tell right from wrong: it passes on the reference solution, fails on the
untouched stub (as committed, so a learner's own answers never break `make test`), and fails
each plausible wrong answer listed in exercises/graders/wrong_answers/ with the FAIL line
that names the mistake: the mutation test of the graders."""

from __future__ import annotations

import ast
import functools
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

from labkit import check

pytestmark = pytest.mark.integration

CHAPTERS = check.chapters()


def committed_stubs(tmp_path: Path) -> Path:
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


def stub_functions(path: Path) -> set[str]:
    """The public functions a stub file asks the learner to write."""
    tree = ast.parse(path.read_text())
    return {node.name for node in tree.body
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_")}


def test_every_chapter_has_at_least_two_exercises():
    assert {"01", "02", "03", "04", "05", "06", "07", "08"} <= set(CHAPTERS)
    for chapter in CHAPTERS:
        (stub,) = check.EXERCISES_DIR.glob(f"ch{chapter}_*.py")
        assert len(stub_functions(stub)) >= 2, stub.name


@functools.cache
def solution_grades(chapter: str) -> tuple[check.Grade, ...]:
    """The reference solutions graded once per chapter (graders run live jobs: seconds)."""
    return tuple(check.check(chapter, solutions=True))


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_exercise_has_a_grader_and_a_solution(chapter):
    (stub,) = check.EXERCISES_DIR.glob(f"ch{chapter}_*.py")
    solution = check.EXERCISES_DIR / "solutions" / stub.name
    graded = {grade.exercise for grade in solution_grades(chapter)}
    assert graded == stub_functions(stub) <= stub_functions(solution)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_grader_passes_on_the_reference_solutions(chapter):
    grades = solution_grades(chapter)
    assert all(grade.passed for grade in grades), "\n".join(map(str, grades))


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_grader_fails_on_the_untouched_stubs(chapter, tmp_path):
    grades = check.check(chapter, directory=committed_stubs(tmp_path))
    assert grades
    for grade in grades:
        assert not grade.passed, f"{grade.exercise}: its grader passes on the stub"
        assert "not written yet" in grade.detail, str(grade)


WRONG_ANSWERS = [(chapter, answer) for chapter in CHAPTERS
                 for answer in check.wrong_answers(chapter)]


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


@pytest.mark.parametrize(("chapter", "answer"), WRONG_ANSWERS,
                         ids=[f"{chapter}-{answer.name}" for chapter, answer in WRONG_ANSWERS])
def test_every_grader_rejects_each_listed_wrong_answer(chapter, answer):
    [grade] = check.grade(chapter, with_wrong_answer(chapter, answer), only={answer.exercise})
    assert not grade.passed, f"the grader of {answer.exercise} passes {answer.mistake!r}"
    assert not grade.detail.startswith("the grader could not use"), str(grade)  # a grader bug
    assert answer.fails_with in grade.detail, f"{answer.mistake!r} fails, but not for that " \
        f"reason:\n{grade}"
