"""The JVM side of the stack: Java itself and the jars that pom.xml fetches (and where)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from ..errors import StackError
from ..settings import REPO_ROOT, VERSIONS, Settings

__all__ = ["avro_confluent_jar", "build_tools", "connector_jar", "ensure_jvm_parts", "java_bin",
           "labkit_flink_jar", "parts_present"]

MIN_JAVA = 17


def java_bin() -> str:
    """The `java` executable (Java 17 or newer), or a StackError saying how to install it."""
    java = shutil.which("java")
    if java is None:
        raise StackError(
            "Java is not installed: Kafka, the Schema Registry and Flink all run on the JVM.",
            "install Java 17 (Debian/Ubuntu: `apt-get install openjdk-17-jdk-headless`; "
            "conda: `conda install openjdk=17`) and run the command again.",
        )
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    match = re.search(r'version "(\d+)', out)
    if match and int(match.group(1)) < MIN_JAVA:
        raise StackError(
            f"`{java}` is Java {match.group(1)}; the lab's servers need Java {MIN_JAVA} or newer.",
            "install Java 17 and put it first on PATH (or set JAVA_HOME and PATH accordingly).",
        )
    return java


def connector_jar(settings: Settings) -> Path:
    """The Flink Kafka SQL connector jar that PyFlink jobs add to their classpath."""
    return (settings.jvm_dir / "flink" /
            f"flink-sql-connector-kafka-{VERSIONS['flink_kafka_connector']}.jar")


def avro_confluent_jar(settings: Settings) -> Path:
    """Flink's `avro-confluent` SQL format (with its registry client), for Flink SQL jobs.

    Version 2.2.0: Maven Central has no 2.2.1 of this artifact (see pom.xml).
    """
    return settings.jvm_dir / "flink" / "flink-sql-avro-confluent-registry-2.2.0.jar"


def labkit_flink_jar(settings: Settings) -> Path:
    """The lab's own Java (jvm/src: DecodeTransactions), built by pom.xml."""
    return settings.jvm_dir / "flink" / "labkit-flink.jar"


def _built_from_current_source(settings: Settings) -> bool:
    jar = labkit_flink_jar(settings)
    sources = list((REPO_ROOT / "jvm" / "src").rglob("*.java"))
    return jar.exists() and all(source.stat().st_mtime <= jar.stat().st_mtime
                                for source in sources)


def parts_present(settings: Settings) -> bool:
    """True if the jars of exactly the pinned versions are in place, and the lab's own
    jar is newer than its sources."""
    jvm = settings.jvm_dir
    return all(path.exists() for path in (
        jvm / "kafka" / f"kafka_2.13-{VERSIONS['kafka']}.jar",
        jvm / "kafka" / f"kafka-tools-{VERSIONS['kafka']}.jar",
        jvm / "apicurio" / f"apicurio-registry-app-{VERSIONS['apicurio']}-runner.jar",
        connector_jar(settings), avro_confluent_jar(settings),
    )) and _built_from_current_source(settings)


def build_tools() -> str:
    """Maven's path; a StackError if Maven is missing, or the Java compiler it needs for
    the lab's own class (the doctor asks this too)."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError(
            "Maven is not installed, and the lab needs it once to fetch the Kafka, "
            "Schema Registry and Flink connector jars from Maven Central.",
            "install Maven (Debian/Ubuntu: `apt-get install maven`; conda: `conda install maven`) "
            "and run `make jvm`.",
        )
    if shutil.which("javac") is None:
        raise StackError(
            "Maven needs a Java compiler (javac) to build the lab's one Java class "
            "(jvm/src: the flink-jvm engine's decoder), and there is none: a JRE is installed, "
            "not a JDK.",
            "install a JDK (Debian/Ubuntu: `apt-get install openjdk-17-jdk-headless`; conda: "
            "`conda install openjdk=17`) and run `make jvm`.",
        )
    return mvn


def ensure_jvm_parts(settings: Settings) -> None:
    """Fetch the Kafka, Apicurio and Flink-connector jars with Maven unless already there."""
    if parts_present(settings):
        return
    mvn = build_tools()
    # Start clean: a jar of an older version left in kafka/ would join the classpath.
    shutil.rmtree(settings.jvm_dir, ignore_errors=True)
    cmd = [mvn, "-q", "-B", "-f", str(REPO_ROOT / "pom.xml"), "package",
           f"-Dlab.jvm.dir={settings.jvm_dir}"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0 or not parts_present(settings):
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-8:])
        raise StackError(
            f"Maven could not fetch the lab's JVM parts (`{' '.join(cmd)}` exited "
            f"{done.returncode}). Last lines:\n{tail}",
            "check that Maven Central is reachable (proxy settings in ~/.m2/settings.xml), "
            "then run `make jvm` again.",
        )
