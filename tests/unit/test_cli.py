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
