"""Every grader that needs the stack can tell right from wrong: it passes on the reference
solution, fails on the untouched stub (as committed, so a learner's own answers never break
`make test`), and fails each plausible wrong answer listed in
exercises/graders/wrong_answers/ with the FAIL line that names the mistake: the mutation
test of the graders. The graders that need no stack (tests/exercise_grading.py's
STACK_FREE), and the layout of exercises/, are tests/unit/test_graders.py's."""

from __future__ import annotations

import functools

import pytest
from exercise_grading import (
    assert_fail_on_the_stubs,
    assert_rejects,
    solution,
    stack_free,
    wrong_answers,
)

from labkit import check

pytestmark = pytest.mark.integration

# Chapter 09's graders break the three-broker cluster: marked, so conftest.py starts it.
ON_CLUSTER = {"09"}


def _marked(chapter: str, *values: object, id: str | None = None):
    return pytest.param(chapter, *values, id=id,
                        marks=[pytest.mark.cluster] if chapter in ON_CLUSTER else [])


CHAPTERS = [_marked(chapter) for chapter in check.chapters()]


def needing_stack(chapter: str) -> set[str]:
    """The exercises of `chapter` whose graders need the stack."""
    return {grader.exercise for grader in check._graders(chapter, check.EXERCISES_DIR)
            if not stack_free(chapter, grader.exercise)}


@functools.cache
def solution_grades(chapter: str) -> tuple[check.Grade, ...]:
    """The reference solutions graded once per chapter (graders run live jobs: seconds)."""
    return tuple(check.grade(chapter, solution(chapter), only=needing_stack(chapter)))


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_grader_passes_on_the_reference_solutions(chapter):
    grades = solution_grades(chapter)
    assert {grade.exercise for grade in grades} == needing_stack(chapter)
    assert all(grade.passed for grade in grades), "\n".join(map(str, grades))


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_grader_fails_on_the_untouched_stubs(chapter, tmp_path):
    assert_fail_on_the_stubs(chapter, needing_stack(chapter), tmp_path)


WRONG_ANSWERS = wrong_answers(without_stack=False)


@pytest.mark.parametrize(("chapter", "answer"), [
    _marked(chapter, answer, id=f"{chapter}-{answer.name}") for chapter, answer in WRONG_ANSWERS])
def test_every_grader_rejects_each_listed_wrong_answer(chapter, answer):
    assert_rejects(chapter, answer)
