"""Grading the exercises: `labkit check NN` runs chapter NN's graders on your code.

    exercises/chNN_<topic>.py                    your file: stubs that raise NotImplementedError
    exercises/solutions/chNN_<topic>.py          the reference solutions, same functions
    exercises/graders/chNN.py                    one grader per exercise
    exercises/graders/wrong_answers/chNN.py      plausible wrong answers each grader must reject

A grader (`@grader`) takes the module under test, calls the exercise with
inputs it makes on the live stack, and raises `Wrong` with what it expected
and what it got. The same grader runs on your file, on the solution and on
each wrong answer, so CI can prove it passes on the solution and fails on the
untouched stub and on every listed mistake (as in apache/flink-training: one
test, either implementation).

Whatever your file does, grading ends in one line per exercise: a file that
does not load, a missing function or a function that raises gives FAIL lines
that say where, never a traceback.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
import traceback
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from confluent_kafka import OFFSET_INVALID, KafkaError, KafkaException

from . import clients
from .errors import LabError
from .settings import REPO_ROOT

__all__ = ["EXERCISES_DIR", "FailingProducer", "Grade", "Grader", "Undelivered", "Unloadable",
           "Watched", "Wrong", "WrongAnswer", "chapters", "check", "described", "grade", "grader",
           "load", "must_raise", "produce_arguments", "topic", "watching", "wrong_answer",
           "wrong_answers"]

# In the clone: the exercises are the learner's files, not part of the installed package.
EXERCISES_DIR = REPO_ROOT / "exercises"
NOT_WRITTEN = "not written yet (the stub raises NotImplementedError)"


class Wrong(AssertionError):
    """What a grader raises when an answer is wrong: what it expected, what it got."""

    def __init__(self, what: str, *, expected: object = None, got: object = None) -> None:
        self.what, self.expected, self.got = what, expected, got
        detail = what if expected is None and got is None else \
            f"{what}: expected {expected!r}, got {got!r}"
        super().__init__(detail)


class Unloadable(LabError):
    """The exercise file cannot be graded at all: missing, or it does not import."""


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
class WrongAnswer:
    """A plausible mistake in `exercise`: the grader must fail it with `fails_with` in its line."""

    exercise: str
    fails_with: str
    function: Callable[..., Any]

    @property
    def name(self) -> str:
        return self.function.__name__

    @property
    def mistake(self) -> str:
        """The first line of its docstring: which mistake it is."""
        return (self.function.__doc__ or "").strip().splitlines()[0]


def wrong_answer(exercise: str, *, fails_with: str) -> Callable[[Callable[..., Any]], WrongAnswer]:
    """Mark a function as a wrong answer to `exercise`, whose FAIL line says `fails_with`."""
    def wrap(function: Callable[..., Any]) -> WrongAnswer:
        return WrongAnswer(exercise, fails_with, function)
    return wrap


@dataclass(frozen=True)
class Grade:
    """One exercise's result: passed, or why not and (for a wrong value) a hint."""

    chapter: str
    exercise: str
    passed: bool
    detail: str = ""
    hint: str = ""

    def __str__(self) -> str:
        if self.passed:
            return f"PASS  {self.chapter} {self.exercise}"
        hint = f"\n      hint: {self.hint}" if self.hint else ""
        return f"FAIL  {self.chapter} {self.exercise}: {self.detail}{hint}"


def chapters(directory: Path = EXERCISES_DIR) -> list[str]:
    """The chapters that have graders: ["01", "02", ...]."""
    return sorted(path.stem.removeprefix("ch") for path in (directory / "graders").glob("ch*.py"))


def _chapter(chapter: str) -> str:
    return f"{int(chapter):02d}" if chapter.isdigit() else chapter


def _shown(path: str | Path) -> str:
    """A path as the learner sees it: relative to the clone when it is inside."""
    path = Path(path)
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def _place(frame: traceback.FrameSummary) -> str:
    line = f": {frame.line}" if frame.line else ""
    return f"{_shown(frame.filename)}:{frame.lineno}, in {frame.name}{line}"


def _message(exc: BaseException) -> str:
    """An exception's message on one line; a LabError's cause and fix."""
    if isinstance(exc, LabError):
        return f"{exc.cause} (fix: {exc.fix})" if exc.fix else exc.cause
    return " ".join(str(exc).split())


def _error(exc: BaseException) -> str:
    """An exception in one line: its type (with its module unless built in) and message."""
    kind = type(exc)
    name = kind.__qualname__ if kind.__module__ == "builtins" else \
        f"{kind.__module__}.{kind.__qualname__}"
    return f"{name}: {_message(exc)}" if _message(exc) else name


def _innermost(exc: BaseException, files: set[str]) -> traceback.FrameSummary | None:
    """The deepest frame of the traceback that runs code from one of `files`."""
    inside = [frame for frame in traceback.extract_tb(exc.__traceback__) if frame.filename in files]
    return inside[-1] if inside else None


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise Unloadable(f"Cannot load {_shown(path)}.", "check the file exists and is Python.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look modules up by name
    spec.loader.exec_module(module)
    return module


def _exercise_file(chapter: str, folder: Path) -> Path:
    found = sorted(folder.glob(f"ch{chapter}_*.py"))
    if len(found) != 1:
        raise Unloadable(f"Expected one exercise file {_shown(folder)}/ch{chapter}_*.py, found "
                         f"{len(found)}.", "restore it from git (`git checkout exercises/`).")
    return found[0]


def topic(chapter: str, directory: Path = EXERCISES_DIR) -> str:
    """What chapter `chapter`'s exercises are about, from its file name (ch01_avro_frames.py)."""
    return _exercise_file(_chapter(chapter), directory).stem.partition("_")[2]


def load(chapter: str, *, solutions: bool = False, directory: Path = EXERCISES_DIR) -> ModuleType:
    """Import chapter `chapter`'s exercise file (or its solutions) afresh.

    A file that does not import (SyntaxError, ImportError, anything its top level
    raises) is an `Unloadable` naming the line, not a traceback.
    """
    chapter = _chapter(chapter)
    path = _exercise_file(chapter, directory / "solutions" if solutions else directory)
    try:
        return _load(path, f"lab_{'solution' if solutions else 'exercise'}_ch{chapter}")
    except Unloadable:
        raise
    except SyntaxError as exc:
        line = f": {exc.text.strip()}" if exc.text else ""
        raise Unloadable(f"{_shown(path)} does not load: {type(exc).__name__}: {exc.msg} "
                         f"({_shown(exc.filename or path)}:{exc.lineno}{line})",
                         "fix that line, then check again.") from None
    except Exception as exc:
        frame = _innermost(exc, {str(path)})
        where = f" ({_place(frame)})" if frame else ""
        raise Unloadable(f"{_shown(path)} does not load: {_error(exc)}{where}",
                         "fix that line, then check again.") from None


@functools.cache
def _graders(chapter: str, directory: Path) -> tuple[Grader, ...]:
    """Chapter `chapter`'s graders, loaded once per process: their cached inputs
    (topics, runs) serve every module they grade."""
    path = directory / "graders" / f"ch{chapter}.py"
    if not path.exists():
        raise LabError(f"Chapter {chapter!r} has no exercises.",
                       f"pick one of: {', '.join(chapters(directory))}.")
    module = _load(path, f"lab_grader_ch{chapter}")
    return tuple(value for value in vars(module).values() if isinstance(value, Grader))


def wrong_answers(chapter: str, directory: Path = EXERCISES_DIR) -> list[WrongAnswer]:
    """The plausible wrong answers listed for chapter `chapter` (none if it has no file)."""
    chapter = _chapter(chapter)
    path = directory / "graders" / "wrong_answers" / f"ch{chapter}.py"
    if not path.exists():
        return []
    module = _load(path, f"lab_wrong_answers_ch{chapter}")
    return [value for value in vars(module).values() if isinstance(value, WrongAnswer)]


# -- what graders watch: the clients a learner's code uses --------------------------------

class Watched:
    """Passes every call on to a real client; a grader's subclass notes what was called."""

    def __init__(self, target: Any, log: list[tuple]) -> None:
        self._target, self._log = target, log

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)

    def __len__(self) -> int:  # len(producer): messages not yet acknowledged
        return len(self._target)


@contextmanager
def watching(module: ModuleType, name: str,
             wrap: Callable[[Any, dict[str, Any]], Any]) -> Iterator[list[Any]]:
    """While it lasts, `lk.clients.<name>(**config)` returns `wrap(<the real client>, config)`,
    in labkit and wherever `module` imported it by name (`from labkit.clients import
    producer`). Yields a list that grows by one weak reference per client made (weak: a
    client lives only as long as the code under test keeps it), so `wrap` returns an
    object of a class (which supports weak references)."""
    original = getattr(clients, name)
    made: list[weakref.ref] = []

    def factory(*args: Any, **config: Any) -> Any:
        client = wrap(original(*args, **config), config)
        made.append(weakref.ref(client))
        return client

    spaces = [vars(clients), vars(module)] + [
        value.__globals__ for value in vars(module).values() if hasattr(value, "__globals__")]
    bound = [(space, key) for space in {id(space): space for space in spaces}.values()
             for key, value in list(space.items()) if value is original]
    for space, key in bound:
        space[key] = factory
    try:
        yield made
    finally:
        for space, key in bound:
            space[key] = original


class Undelivered:
    """The delivery report's message for one the broker never acknowledged."""

    def __init__(self, topic: str, key: bytes | None, value: bytes | None,
                 headers: Any, error: KafkaError) -> None:
        self._topic, self._key, self._value, self._headers = topic, key, value, headers
        self._error = error

    def error(self) -> KafkaError:
        return self._error

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return -1

    def offset(self) -> int:
        return OFFSET_INVALID

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def headers(self) -> Any:
        return self._headers

    def timestamp(self) -> tuple[int, int]:
        return (0, 0)  # TIMESTAMP_NOT_AVAILABLE


def produce_arguments(args: tuple, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Producer.produce's arguments after the topic, by name, however they were passed."""
    names = ("value", "key", "partition", "on_delivery", "timestamp", "headers")
    return dict(zip(names, args, strict=False)) | kwargs


class FailingProducer(Watched):
    """A real producer, but the `lost`-th message it is given (if `lost`) never reaches the
    broker: its delivery report carries `_MSG_TIMED_OUT`, as after a broker outage.

    The report comes with the next flush() or poll(), which returns as if it was done; with
    `stuck`, the first flush() after the message returns one more (it was still waiting
    when flush's timeout ran out) and the report comes with the flush() or poll() after."""

    def __init__(self, target: Any, log: list[tuple], *, lost: int | None, stuck: bool = False,
                 on_delivery: Callable[..., Any] | None = None) -> None:
        super().__init__(target, log)
        self._lost, self._stuck, self._fallback = lost, stuck, on_delivery
        self._produced = 0
        self._held: tuple[Callable[..., Any] | None, Undelivered] | None = None

    def produce(self, topic: str, *args: Any, **kwargs: Any) -> None:
        self._produced += 1
        if self._produced != self._lost:
            return self._target.produce(topic, *args, **kwargs)
        named = produce_arguments(args, kwargs)
        report = named.get("on_delivery") or named.get("callback") or self._fallback
        timed_out = KafkaError(KafkaError._MSG_TIMED_OUT)
        self._held = report, Undelivered(topic, named.get("key"), named.get("value"),
                                         named.get("headers"), timed_out)
        self._log.append(("lost", topic, named.get("key"), named.get("value")))
        return None

    def _serve(self) -> int:
        """Serve the held report if it is due: how many reports that was (0 or 1)."""
        if self._held is None or self._stuck:
            return 0
        report, message = self._held
        self._held = None
        if report is not None:
            report(message.error(), message)
        return 1

    def flush(self, *args: Any, **kwargs: Any) -> int:
        left = self._target.flush(*args, **kwargs)
        if self._held is not None and self._stuck:
            self._stuck = False  # flush's timeout ran out first: reported at the next call
            return left + 1
        self._serve()
        return left

    def poll(self, *args: Any, **kwargs: Any) -> int:
        return self._target.poll(*args, **kwargs) + self._serve()

    def __len__(self) -> int:
        return len(self._target) + (self._held is not None)


class _KeptFuture(Future):
    """An admin request's future that knows whether its AdminClient still exists."""

    def __init__(self, request: Future, owner: weakref.ref) -> None:
        super().__init__()
        self._owner = owner
        request.add_done_callback(self._copy)

    def _copy(self, request: Future) -> None:
        if request.exception() is not None:
            self.set_exception(request.exception())
        else:
            self.set_result(request.result())

    def result(self, timeout: float | None = None) -> Any:
        if self._owner() is None and (not self.done() or self._destroyed()):
            raise LabError(
                "This AdminClient was thrown away before its request finished: the request "
                "died with it, so its result would never come (a silent timeout).",
                "keep a reference while you wait: `admin = lk.clients.admin()`, then "
                "`admin.list_consumer_group_offsets(...)`, not "
                "`lk.clients.admin().list_consumer_group_offsets(...)`.")
        return super().result(timeout)

    def _destroyed(self) -> bool:
        """Failed because its client was destroyed (librdkafka's _DESTROY), when it was
        destroyed while the request was in flight instead of before."""
        exc = self.exception(timeout=0)
        return isinstance(exc, KafkaException) and exc.args[0].code() == KafkaError._DESTROY


class _KeptAdmin:
    """An AdminClient whose futures raise a LabError, instead of never resolving (or failing
    with _DESTROY), when the client is garbage-collected before they resolve (the inline
    `lk.clients.admin().x()`)."""

    def __init__(self, client: Any, _config: dict[str, Any]) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute
        owner = weakref.ref(self)

        def call(*args: Any, **kwargs: Any) -> Any:
            answer = attribute(*args, **kwargs)
            if isinstance(answer, Future):
                return _KeptFuture(answer, owner)
            if isinstance(answer, dict) and all(isinstance(v, Future) for v in answer.values()):
                return {key: _KeptFuture(value, owner) for key, value in answer.items()}
            return answer
        return call


# -- grading --------------------------------------------------------------------------------

def _yours(module: ModuleType) -> set[str]:
    """The files whose code is the answer: the module's own, and its functions' (a wrong
    answer is a solution with one function from another file)."""
    mine = (module.__name__, "lab_exercise_", "lab_solution_", "lab_wrong_answers_")
    files = {value.__code__.co_filename for value in vars(module).values()
             if hasattr(value, "__code__") and str(value.__module__).startswith(mine)}
    return files | ({module.__file__} if getattr(module, "__file__", None) else set())


def described(exc: BaseException, module: ModuleType | None = None) -> str:
    """An exception in one line, for a FAIL line: its type and message, and where in
    `module`'s code it was raised (when it was)."""
    frame = None if module is None else _innermost(exc, _yours(module))
    return _error(exc) + (f" ({_place(frame)})" if frame else "")


def must_raise(kind: type[Exception], call: Callable[[], object], what: str,
               module: ModuleType) -> Exception:
    """`call()` (code of `module`) must raise `kind`: return that exception, for its message.
    Returning, or raising anything else, is `Wrong`: `what` should raise `kind`."""
    try:
        got = call()
    except kind as exc:
        return exc
    except NotImplementedError:
        raise
    except Exception as exc:  # the wrong exception is the answer being graded
        raise Wrong(f"{what} should raise {kind.__name__}; it raised "
                    f"{described(exc, module)}") from None
    raise Wrong(f"{what} should raise {kind.__name__}; it returned {got!r}")


def _raised(exc: Exception, exercise: str, module: ModuleType) -> str:
    """Why grading stopped on an exception: where in your code, or else what it was."""
    if _innermost(exc, _yours(module)) is not None:
        down = isinstance(exc, clients.REDIS_UNREACHABLE + clients.REGISTRY_UNREACHABLE)
        return f"your {exercise} raised {described(exc, module)}" + (
            f"; a service did not answer: {clients.STACK_FIX}" if down else "")
    if isinstance(exc, LabError):  # the stack is down, say: not your code, but say so
        return _message(exc)
    last = traceback.extract_tb(exc.__traceback__)[-1]
    return (f"the grader could not use your answer (does it return what the docstring asks?): "
            f"{_error(exc)} ({_place(last)})")


def _grade(chapter: str, grader: Grader, module: ModuleType) -> Grade:
    """Run one grader on `module` (the learner's file, a solution or a wrong answer).

    A wrong value gets the grader's hint; an exception gets where it was raised and no
    hint (the hints are written for wrong values).
    """
    def fail(detail: str, hint: str = "") -> Grade:
        return Grade(chapter, grader.exercise, False, detail, hint)

    if not callable(getattr(module, grader.exercise, None)):
        stub = _shown(getattr(module, "__file__", None) or "exercises/chNN_<topic>.py")
        return fail(f"your file has no function {grader.exercise}() (renamed or deleted?)",
                    f"its stub is in git: `git show HEAD:{stub}`.")
    try:
        with watching(module, "admin", _KeptAdmin):
            grader.grade(module)
    except NotImplementedError:
        return fail(NOT_WRITTEN, grader.hint)
    except Wrong as wrong:
        return fail(str(wrong), grader.hint)
    except Exception as exc:
        return fail(_raised(exc, grader.exercise, module))
    return Grade(chapter, grader.exercise, True)


def grade(chapter: str, module: ModuleType, *, only: set[str] | None = None,
          directory: Path = EXERCISES_DIR) -> list[Grade]:
    """Run chapter `chapter`'s graders (those of the exercises in `only`, or all) on `module`."""
    chapter = _chapter(chapter)
    return [_grade(chapter, one, module) for one in _graders(chapter, directory)
            if only is None or one.exercise in only]


def check(chapter: str, *, solutions: bool = False,
          directory: Path = EXERCISES_DIR) -> list[Grade]:
    """Grade chapter `chapter`'s exercises: yours, or with `solutions` the reference ones.

    A file that does not load fails every exercise with the error and its line.
    """
    chapter = _chapter(chapter)
    graders = _graders(chapter, directory)
    try:
        module = load(chapter, solutions=solutions, directory=directory)
    except Unloadable as broken:
        return [Grade(chapter, one.exercise, False, broken.cause, broken.fix) for one in graders]
    return [_grade(chapter, one, module) for one in graders]
