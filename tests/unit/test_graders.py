"""The exercises' layout, and every grader that needs no stack (tests/exercise_grading.py's
STACK_FREE), graded without it: each passes on the reference solution, fails on the
untouched stub, and fails each listed wrong answer with the FAIL line that names the
mistake. tests/integration/test_exercises.py does the same for the graders that need the
stack. Were a grader listed here to reach for a service, this directory's guard would fail
it (tests/unit/conftest.py)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from exercise_grading import (
    STACK_FREE,
    assert_fail_on_the_stubs,
    assert_rejects,
    solution,
    wrong_answers,
)

from labkit import check

CHAPTERS = check.chapters()
STACK_FREE_EXERCISES = [(chapter, exercise) for chapter, exercises in sorted(STACK_FREE.items())
                        for exercise in sorted(exercises)]


def stub_functions(path: Path) -> set[str]:
    """The public functions a stub file asks the learner to write."""
    tree = ast.parse(path.read_text())
    return {node.name for node in tree.body
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_")}


def graded(chapter: str) -> set[str]:
    """The exercises chapter `chapter`'s graders grade."""
    return {grader.exercise for grader in check._graders(chapter, check.EXERCISES_DIR)}


def test_every_chapter_has_at_least_two_exercises():
    assert {"01", "02", "03", "04", "05", "06", "07", "08", "09", "10"} <= set(CHAPTERS)
    for chapter in CHAPTERS:
        (stub,) = check.EXERCISES_DIR.glob(f"ch{chapter}_*.py")
        assert len(stub_functions(stub)) >= 2, stub.name


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_exercise_has_a_grader_and_a_solution(chapter):
    (stub,) = check.EXERCISES_DIR.glob(f"ch{chapter}_*.py")
    solution_file = check.EXERCISES_DIR / "solutions" / stub.name
    assert graded(chapter) == stub_functions(stub) <= stub_functions(solution_file)


def test_the_stack_free_graders_exist():
    for chapter, exercise in STACK_FREE_EXERCISES:
        assert exercise in graded(chapter), (chapter, exercise)


@pytest.mark.parametrize(("chapter", "exercise"), STACK_FREE_EXERCISES)
def test_a_stack_free_grader_passes_on_the_reference_solution(chapter, exercise):
    [grade] = check.grade(chapter, solution(chapter), only={exercise})
    assert grade.passed, str(grade)


@pytest.mark.parametrize(("chapter", "exercise"), STACK_FREE_EXERCISES)
def test_a_stack_free_grader_fails_on_the_untouched_stub(chapter, exercise, tmp_path):
    assert_fail_on_the_stubs(chapter, {exercise}, tmp_path)


WRONG_ANSWERS = wrong_answers(without_stack=True)


def test_each_stack_free_grader_has_wrong_answers_to_reject():
    assert {(chapter, answer.exercise) for chapter, answer in WRONG_ANSWERS} == \
        set(STACK_FREE_EXERCISES)


@pytest.mark.parametrize(("chapter", "answer"), WRONG_ANSWERS,
                         ids=[f"{chapter}-{answer.name}" for chapter, answer in WRONG_ANSWERS])
def test_a_stack_free_grader_rejects_each_listed_wrong_answer(chapter, answer):
    assert_rejects(chapter, answer)
