"""Kafka's own command-line tools, run from the jars the lab already fetches.

Interviews and incidents speak `kafka-topics --describe`, `kafka-consumer-groups` and
`kafka-get-offsets`, not a Python API; `labkit kafka <tool> ...` runs the real tool
(the same Java class the `bin/kafka-*.sh` scripts of a Kafka download start).
"""

from __future__ import annotations

import subprocess
from importlib.resources import files

from ..errors import LabError
from ..settings import Settings
from .jvm import java_bin

__all__ = ["TOOLS", "run_tool", "tool_argv"]

# `kafka-<name>.sh` of a Kafka 4.1 download -> the class it runs.
TOOLS = {
    "topics": "org.apache.kafka.tools.TopicCommand",
    "consumer-groups": "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
    "get-offsets": "org.apache.kafka.tools.GetOffsetShell",
    "metadata-quorum": "org.apache.kafka.tools.MetadataQuorumCommand",
    "configs": "kafka.admin.ConfigCommand",
    "log-dirs": "org.apache.kafka.tools.LogDirsCommand",
    "leader-election": "org.apache.kafka.tools.LeaderElectionCommand",
}


def tool_argv(settings: Settings, tool: str, args: list[str]) -> list[str]:
    """The command line of Kafka's `kafka-<tool>.sh args...`; `--bootstrap-server` defaults
    to LAB_KAFKA when `args` name no server."""
    if tool not in TOOLS:
        raise LabError(f"labkit does not run a Kafka tool called {tool!r}.",
                       f"pick one of: {', '.join(TOOLS)}.")
    if not {"--bootstrap-server", "--bootstrap-controller"} & set(args):
        args = ["--bootstrap-server", settings.kafka, *args]
    # The tools log through log4j2 as the brokers do; warnings only, to stderr.
    log4j = files("labkit.stack") / "kafka-tools-log4j2.properties"
    return [java_bin(), "-Xmx256m", f"-Dlog4j2.configurationFile={log4j}",
            "-cp", str(settings.jvm_dir / "kafka" / "*"), TOOLS[tool], *args]


def run_tool(settings: Settings, tool: str, *args: str, timeout_s: float = 60.0) -> str:
    """Run `kafka-<tool>.sh args...` and return what it printed; a LabError if it failed."""
    argv = tool_argv(settings, tool, list(args))
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise LabError(f"kafka-{tool} {' '.join(args)} gave no answer within {timeout_s:.0f} s.",
                       "check that a broker answers at the bootstrap address "
                       "(`labkit stack status`).") from None
    if done.returncode != 0:
        # The tool's message, not the Java stack trace under it.
        said = [line for line in (done.stderr.strip() or done.stdout.strip()).splitlines()
                if not line.startswith("\tat ")][:6]
        raise LabError(f"kafka-{tool} {' '.join(args)} failed:\n" + "\n".join(said),
                       "check the arguments (`labkit kafka " + tool + " --help`) and that "
                       "the brokers answer (`labkit stack status`).")
    return done.stdout
