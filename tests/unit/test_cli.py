from typer.testing import CliRunner

from labkit.cli import app

runner = CliRunner()


def test_help_lists_the_stack_commands():
    result = runner.invoke(app, ["stack", "--help"])
    assert result.exit_code == 0
    for command in ("up", "down", "status", "logs", "reset"):
        assert command in result.output


def test_a_lab_error_is_a_message_and_exit_code_1_not_a_traceback():
    result = runner.invoke(app, ["stack", "logs", "zookeeper"])
    assert result.exit_code == 1
    assert "There is no service called 'zookeeper'" in result.output
    assert "Traceback" not in result.output


def test_redis_down_is_a_message_not_a_traceback(monkeypatch):
    monkeypatch.setenv("LAB_REDIS", "redis://127.0.0.1:1/0")  # nothing listens on port 1
    result = runner.invoke(app, ["features", "get", "card-0001", "--topic", "payments"])
    assert result.exit_code == 1
    assert "Redis at redis://127.0.0.1:1/0 did not answer" in result.output
    assert "labkit stack status" in result.output
    assert "Traceback" not in result.output


def test_a_malformed_endpoint_is_a_message_for_every_command(monkeypatch):
    monkeypatch.setenv("LAB_KAFKA", "127.0.0.1:abc")
    for argv in (["stack", "status"], ["consume", "--topic", "t"],
                 ["process", "--topic", "t"]):
        result = runner.invoke(app, argv)
        assert result.exit_code == 1, argv
        assert "LAB_KAFKA" in result.output, argv
        assert "Traceback" not in result.output, argv


def test_bench_report_prints_a_saved_suite(tmp_path):
    from labkit import bench

    folder = bench.save([bench.Result("ceiling", 10_000, wall_s=1.0, loop_s=0.5)],
                        tmp_path / "run")
    result = runner.invoke(app, ["bench", "report", "--from", str(folder)])
    assert result.exit_code == 0, result.output
    assert "| `ceiling`: consume + Avro decode only | 20K/s |" in result.output


def test_bench_lists_its_subcommands_and_refuses_pinning_a_flink_engine():
    listed = runner.invoke(app, ["bench"]).output
    for command in ("run", "latency", "scale-out", "suite", "report"):
        assert command in listed
    refused = runner.invoke(app, ["bench", "run", "--pin", "--engine", "flink"])
    assert refused.exit_code == 1
    assert "pin" in refused.output and "Traceback" not in refused.output


def test_each_profile_starts_its_own_parts(monkeypatch):
    from labkit import stack
    from labkit.settings import get_settings

    asked = []
    monkeypatch.setattr(stack, "up", lambda *, flink_cluster, cluster, console:
                        asked.append((flink_cluster, cluster)))
    monkeypatch.setattr(stack, "status", lambda: [])
    for argv in (["stack", "up"], ["stack", "up", "--profile", "core"],
                 ["stack", "up", "--profile", "flink"], ["stack", "up", "--flink-cluster"],
                 ["stack", "up", "--profile", "cluster"]):
        assert runner.invoke(app, argv).exit_code == 0, argv
    assert asked == [(False, False), (False, False), (True, False), (True, False), (True, True)]
    # Without the cluster, Flink is the mini-cluster each job starts: no port of its own.
    (flink,) = [service for service in stack.services(flink_cluster=False)
                if service.name == "flink"]
    assert flink.ports(get_settings()) == []
