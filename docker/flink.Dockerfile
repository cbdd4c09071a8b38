# Flink for the compose stack, built the way the embedded stack runs it: the
# PyFlink wheel is a complete Flink distribution (bin/, conf/, lib/), so one
# `pip install` gives the JobManager, the TaskManager and the Python workers
# the same versions the notebooks use. Built for the machine's own
# architecture (amd64 or arm64): nothing below names one.

# Stage 1: the project's wheel, from this checkout (the build context is the repo).
FROM python:3.11-slim-bookworm AS labkit-wheel
COPY pyproject.toml README.md /src/
COPY labkit /src/labkit
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /dist /src

# Stage 2: Java, then labkit with its pinned dependencies (PyFlink among them).
FROM python:3.11-slim-bookworm

# What pyproject.toml pins; the wheel below installs exactly this PyFlink.
ARG FLINK_VERSION=2.2.1
ARG KAFKA_CONNECTOR_VERSION=5.0.0-2.2

RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless curl procps \
 && rm -rf /var/lib/apt/lists/*

# JAVA_HOME found from the installed java, whatever architecture the package is for
# (its folder is named after it: java-17-openjdk-amd64, java-17-openjdk-arm64, ...).
RUN ln -s "$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")" /opt/java-home
ENV JAVA_HOME=/opt/java-home

# labkit on the TaskManager: a job's Python operators import the lab's code
# (labkit.engines.flink_job, labkit.processing, ...) and its dependencies from here.
COPY --from=labkit-wheel /dist/ /tmp/dist/
RUN pip install --no-cache-dir /tmp/dist/labkit-*.whl \
 && python -c "import pyflink.version as v; assert v.__version__ == '${FLINK_VERSION}', v.__version__" \
 && rm -rf /tmp/dist

# The wheel's own scripts run the cluster; their bin/ on PATH for the compose commands.
ENV FLINK_HOME=/usr/local/lib/python3.11/site-packages/pyflink
ENV PATH=$FLINK_HOME/bin:$PATH

# The Kafka connector on the cluster's classpath, so jobs need not ship it.
RUN curl -fsSL -o "$FLINK_HOME/lib/flink-sql-connector-kafka-${KAFKA_CONNECTOR_VERSION}.jar" \
    "https://repo1.maven.org/maven2/org/apache/flink/flink-sql-connector-kafka/${KAFKA_CONNECTOR_VERSION}/flink-sql-connector-kafka-${KAFKA_CONNECTOR_VERSION}.jar"
