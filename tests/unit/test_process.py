"""PID tracking with real (harmless) processes: `sleep` stands in for a server."""

from labkit.polling import until
from labkit.stack import process
from labkit.stack.process import Launch


def _sleeper(tmp_path, name="sleeper", script="exec sleep 60"):
    return Launch(name, ["sh", "-c", script], tmp_path / "logs" / f"{name}.log")


def _gone(pid: int) -> bool:
    return process._start_time(pid) is None


def _whole_line(path) -> str:
    """The file's text once it ends a line ("" before: the shell creates it, then writes)."""
    text = path.read_text() if path.exists() else ""
    return text if text.endswith("\n") else ""


def test_start_records_pid_and_stop_ends_it(tmp_path):
    run = tmp_path / "run"
    pid = process.start(_sleeper(tmp_path), run)
    assert process.running_pid("sleeper", run) == pid
    assert process.tracked_names(run) == ["sleeper"]
    assert process.stop("sleeper", run, timeout_s=5)
    assert _gone(pid)
    assert process.tracked_names(run) == []


def test_stop_ends_the_whole_process_group(tmp_path):
    run = tmp_path / "run"
    launch = _sleeper(tmp_path, script="sleep 60 & echo $! > child.pid; wait")
    launch = Launch(launch.name, launch.argv, launch.log, cwd=tmp_path)
    process.start(launch, run)
    child = int(until(lambda: _whole_line(tmp_path / "child.pid"), timeout_s=5,
                      what="the shell wrote its child's pid"))
    process.stop("sleeper", run, timeout_s=5)
    # The group was signalled, but the orphaned child exits (and is reaped) on its own time.
    until(lambda: _gone(child), timeout_s=5, what=f"the child (pid {child}) exited")


def test_a_recycled_pid_is_never_signalled(tmp_path):
    run = tmp_path / "run"
    pid = process.start(_sleeper(tmp_path), run)
    # Pretend the recorded process died and its PID now belongs to another program.
    (run / "sleeper.pid").write_text(f"{pid} 1\n")
    assert process.running_pid("sleeper", run) is None
    assert not process.stop("sleeper", run)
    assert not _gone(pid)  # the "other program" is untouched
    (run / "sleeper.pid").write_text(f"{pid} {process._start_time(pid)}\n")
    assert process.stop("sleeper", run, timeout_s=5)


def test_stop_without_a_pid_file_is_a_no_op(tmp_path):
    assert not process.stop("never-started", tmp_path / "run")


def test_process_output_goes_to_its_log(tmp_path):
    run = tmp_path / "run"
    launch = _sleeper(tmp_path, script="echo hello from the server; exec sleep 60")
    process.start(launch, run)
    until(lambda: "hello from the server" in launch.log.read_text(), timeout_s=5,
          what="the server's greeting reached its log")
    process.stop("sleeper", run, timeout_s=5)
    assert "hello from the server" in launch.log.read_text()


def test_resident_memory_is_read_from_proc_and_zero_for_a_gone_process():
    import os

    from labkit.stack.process import resident_kib

    now, peak = resident_kib(os.getpid())
    assert 0 < now <= peak
    assert resident_kib(2**22 + 1) == (0, 0)  # above any PID Linux hands out
