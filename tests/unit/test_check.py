"""`labkit check` on a learner's file, whatever state it is in: one line per exercise, never a
traceback. A made-up chapter of pure graders (no stack), so every case runs in milliseconds."""

from __future__ import annotations

import ast
import textwrap
from concurrent.futures import Future
from pathlib import Path
from types import ModuleType

import pytest
from confluent_kafka import KafkaError, KafkaException
from typer.testing import CliRunner

import labkit as lk
from labkit import check
from labkit.cli import app
from labkit.errors import LabError

GRADERS = '''
from labkit.check import Wrong, grader


@grader("double", hint="multiply by two")
def grade_double(module):
    got = module.double(21)
    if got != 42:
        raise Wrong("double(21)", expected=42, got=got)


@grader("halve", hint="divide by two")
def grade_halve(module):
    if module.halve(42) != 21:
        raise Wrong("halve(42)", expected=21, got=module.halve(42))


@grader("length", hint="count the items")
def grade_length(module):
    if len(module.length([1, 2, 3])) != 3:  # a grader that trusts the answer's type
        raise Wrong("length([1, 2, 3])", expected=3)
'''

SOLUTION = '''
def double(x):
    return 2 * x


def halve(x):
    return x // 2


def length(items):
    return list(items)
'''


def _chapter(tmp_path: Path, learner: str) -> Path:
    """exercises/ with chapter 01's graders, a solution and the learner's file."""
    folder = tmp_path / "exercises"
    (folder / "graders").mkdir(parents=True)
    (folder / "solutions").mkdir()
    (folder / "graders" / "ch01.py").write_text(GRADERS)
    (folder / "solutions" / "ch01_numbers.py").write_text(SOLUTION)
    (folder / "ch01_numbers.py").write_text(textwrap.dedent(learner))
    return folder


def _lines(folder: Path) -> dict[str, check.Grade]:
    return {grade.exercise: grade for grade in check.check("1", directory=folder)}


def test_the_solution_passes_and_a_stub_is_not_written_yet(tmp_path):
    folder = _chapter(tmp_path, '''
        def double(x):
            raise NotImplementedError("double")

        def halve(x):
            return x // 2

        def length(items):
            return list(items)
        ''')
    assert all(grade.passed for grade in check.check("01", solutions=True, directory=folder))
    grades = _lines(folder)
    assert str(grades["double"]).startswith("FAIL  01 double: not written yet")
    assert "hint: multiply by two" in str(grades["double"])
    assert str(grades["halve"]) == "PASS  01 halve"


def test_a_syntax_error_fails_every_exercise_with_its_line(tmp_path):
    folder = _chapter(tmp_path, '''
        def double(x):
            return 2 * x

        def halve(x)
            return x // 2
        ''')
    grades = _lines(folder)
    assert set(grades) == {"double", "halve", "length"}
    for grade in grades.values():
        assert not grade.passed
        assert "does not load: SyntaxError" in grade.detail
        assert "ch01_numbers.py:5: def halve(x)" in grade.detail
        assert "fix that line" in str(grade)


def test_an_import_error_fails_every_exercise_with_its_line(tmp_path):
    folder = _chapter(tmp_path, '''
        import math
        import no_such_module_here

        def double(x):
            return 2 * x
        ''')
    for grade in _lines(folder).values():
        assert "ModuleNotFoundError: No module named 'no_such_module_here'" in grade.detail
        assert "ch01_numbers.py:3, in <module>: import no_such_module_here" in grade.detail


def test_a_missing_function_is_named(tmp_path):
    folder = _chapter(tmp_path, '''
        def double(x):
            return 2 * x

        def halves(x):
            return x // 2
        ''')
    grade = _lines(folder)["halve"]
    assert "your file has no function halve()" in grade.detail


def test_a_raise_says_where_in_your_code_and_gives_no_hint(tmp_path):
    folder = _chapter(tmp_path, '''
        def _helper(x):
            return x / 0

        def double(x):
            return _helper(x)
        ''')
    grade = _lines(folder)["double"]
    assert grade.detail.startswith("your double raised ZeroDivisionError: division by zero (")
    assert "ch01_numbers.py:3, in _helper: return x / 0)" in grade.detail
    assert "hint" not in str(grade)


def test_a_wrong_value_gets_expected_got_and_the_hint(tmp_path):
    folder = _chapter(tmp_path, '''
        def double(x):
            return x + 2
        ''')
    assert str(_lines(folder)["double"]) == ("FAIL  01 double: double(21): expected 42, got 23\n"
                                             "      hint: multiply by two")


def test_an_answer_the_grader_cannot_use_is_not_blamed_on_your_code(tmp_path):
    folder = _chapter(tmp_path, '''
        def length(items):
            return 3
        ''')
    grade = _lines(folder)["length"]
    assert grade.detail.startswith("the grader could not use your answer")
    assert "TypeError" in grade.detail
    assert "graders/ch01.py" in grade.detail


def test_a_broken_exercise_folder_is_a_fail_line_too(tmp_path):
    folder = _chapter(tmp_path, "")
    (folder / "ch01_numbers.py").rename(folder / "ch01_other.txt")
    for grade in _lines(folder).values():
        assert "Expected one exercise file" in grade.detail


def test_check_all_prints_a_progress_table(tmp_path, monkeypatch):
    folder = _chapter(tmp_path, '''
        def double(x):
            return 2 * x

        def halve(x):
            raise NotImplementedError
        ''')
    monkeypatch.setattr(check, "EXERCISES_DIR", folder)
    result = CliRunner().invoke(app, ["check", "--all"])
    assert result.exit_code == 1
    row = next(line for line in result.output.splitlines() if "numbers" in line)
    assert "01" in row and "1 / 3" in row and "halve, length" in row
    assert "1 of 3 exercises pass" in result.output
    solved = CliRunner().invoke(app, ["check", "--all", "--solutions"])
    assert solved.exit_code == 0, solved.output
    assert "3 / 3" in solved.output and "3 of 3 exercises pass" in solved.output


def test_check_wants_one_chapter_or_all(tmp_path, monkeypatch):
    monkeypatch.setattr(check, "EXERCISES_DIR", _chapter(tmp_path, ""))
    for argv in (["check"], ["check", "01", "--all"]):
        result = CliRunner().invoke(app, argv)
        assert result.exit_code == 1
        assert "Name one chapter, or --all" in result.output
        assert "Traceback" not in result.output


# -- what graders watch ----------------------------------------------------------------------

class _FakeProducer:
    """Records what it is asked to send; each flush() reports every message delivered."""

    def __init__(self) -> None:
        self.pending: list = []

    def produce(self, topic, value=None, key=None, on_delivery=None, **_):
        self.pending.append((on_delivery, value))

    def flush(self, *_):
        for report, _value in self.pending:
            report(None, object())
        self.pending = []
        return 0

    def poll(self, *_):
        return 0

    def __len__(self):
        return len(self.pending)


def _send(producer, count: int, reports: list) -> None:
    for index in range(count):
        producer.produce("t", b"%d" % index, on_delivery=lambda err, msg: reports.append(err))


def test_a_failing_producer_reports_its_lost_message_with_an_error():
    producer = check.FailingProducer(_FakeProducer(), [], lost=2)
    reports: list = []
    _send(producer, 3, reports)
    assert len(producer) == 3  # two in the real queue, one held
    assert producer.flush(30) == 0
    assert [err is None for err in reports] == [True, True, False]
    assert reports[-1].code() == KafkaError._MSG_TIMED_OUT


def test_a_stuck_message_is_still_waiting_after_the_first_flush():
    producer = check.FailingProducer(_FakeProducer(), [], lost=1, stuck=True)
    reports: list = []
    _send(producer, 2, reports)
    assert producer.poll(0) == 0  # a poll does not end the wait: only a flush's timeout does
    assert producer.flush(1) == 1
    assert reports == [None]
    assert producer.flush(1) == 0
    assert reports[1].code() == KafkaError._MSG_TIMED_OUT


class _Wrapped:
    def __init__(self, real: object, config: dict) -> None:
        self.real, self.config = real, config


class _Producer:
    """Stands in for confluent_kafka's Producer, which would dial the brokers once made."""

    def __init__(self, config: dict) -> None:
        self.config = config


def test_watching_replaces_a_client_factory_where_it_is_bound_then_restores_it(monkeypatch):
    monkeypatch.setattr(lk.clients, "Producer", _Producer)
    module = ModuleType("learner")
    module.producer = lk.clients.producer  # as `from labkit.clients import producer` binds it
    original = lk.clients.producer
    with check.watching(module, "producer", _Wrapped) as made:
        assert lk.clients.producer(**{"linger.ms": 1}).config == {"linger.ms": 1}
        real = module.producer().real  # what the real factory made, with the lab's settings
        assert isinstance(real, _Producer) and real.config["enable.idempotence"] is True
        assert len(made) == 2
    assert lk.clients.producer is original and module.producer is original


class _FakeAdmin:
    def list_consumer_group_offsets(self, _requests):
        return {"group": Future()}  # never resolves: its client is gone


def test_an_admin_client_dropped_before_its_request_ends_is_a_lab_error():
    future = check._KeptAdmin(_FakeAdmin(), {}).list_consumer_group_offsets([])["group"]
    with pytest.raises(LabError, match="thrown away before its request finished"):
        future.result(timeout=60)


class _DestroyedAdmin:
    def list_consumer_group_offsets(self, _requests):
        future = Future()
        future.set_exception(KafkaException(KafkaError(KafkaError._DESTROY)))
        return {"group": future}


def test_a_request_failed_by_its_destroyed_admin_client_is_the_same_lab_error():
    future = check._KeptAdmin(_DestroyedAdmin(), {}).list_consumer_group_offsets([])["group"]
    with pytest.raises(LabError, match="keep a reference"):
        future.result(timeout=1)


class _PendingAdmin:
    def __init__(self) -> None:
        self.request: Future = Future()

    def list_consumer_group_offsets(self, _requests):
        return {"group": self.request}


def test_an_admin_client_kept_resolves_its_futures():
    client = _PendingAdmin()
    kept = check._KeptAdmin(client, {})
    future = kept.list_consumer_group_offsets([])["group"]
    assert not future.done()
    client.request.set_result("the offsets")
    assert future.result(timeout=1) == "the offsets" and kept is not None


# -- the wrong answers every grader must reject ----------------------------------------------

@pytest.mark.parametrize("chapter", check.chapters())
def test_every_exercise_lists_plausible_wrong_answers(chapter):
    """At least three per exercise, each with its mistake and the FAIL text it must get
    (tests/integration/test_exercises.py proves that each one fails so)."""
    (stub,) = check.EXERCISES_DIR.glob(f"ch{chapter}_*.py")
    exercises = {node.name for node in ast.parse(stub.read_text()).body
                 if isinstance(node, ast.FunctionDef) and not node.name.startswith("_")}
    solution = check.load(chapter, solutions=True)
    per_exercise = dict.fromkeys(exercises, 0)
    for answer in check.wrong_answers(chapter):
        assert answer.exercise in per_exercise, answer.name
        assert answer.mistake and answer.fails_with, answer.name
        assert callable(getattr(solution, answer.exercise)), answer.name
        per_exercise[answer.exercise] += 1
    assert min(per_exercise.values()) >= 3, per_exercise


def test_must_raise_names_what_was_raised_or_returned_instead():
    learner = ModuleType("learner")
    assert str(check.must_raise(ValueError, lambda: int("x"), "int('x')", learner)).startswith(
        "invalid literal")
    with pytest.raises(check.Wrong, match=r"1 / 0 should raise ValueError; it raised "
                                          r"ZeroDivisionError: division by zero"):
        check.must_raise(ValueError, lambda: 1 / 0, "1 / 0", learner)
    with pytest.raises(check.Wrong, match="abs should raise ValueError; it returned 1"):
        check.must_raise(ValueError, lambda: abs(-1), "abs", learner)
    with pytest.raises(NotImplementedError):  # a stub is "not written yet", not a wrong raise
        check.must_raise(ValueError, _stub, "the stub", learner)


def _stub() -> None:
    raise NotImplementedError
