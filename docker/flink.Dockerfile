# Flink for the compose stack, built the way the embedded stack runs it: the
# PyFlink wheel is a complete Flink distribution (bin/, conf/, lib/), so one
# `pip install` gives the JobManager, the TaskManager and the Python workers
# the same versions the notebooks use.
FROM python:3.11-slim-bookworm

ARG FLINK_VERSION=2.2.1
ARG KAFKA_CONNECTOR_VERSION=5.0.0-2.2

RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless curl procps \
 && rm -rf /var/lib/apt/lists/*

RUN pip install --no-cache-dir "apache-flink==${FLINK_VERSION}"

# The wheel's own scripts run the cluster; their bin/ on PATH for the compose commands.
ENV FLINK_HOME=/usr/local/lib/python3.11/site-packages/pyflink \
    JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64
ENV PATH=$FLINK_HOME/bin:$PATH

# The Kafka connector on the cluster's classpath, so jobs need not ship it.
RUN curl -fsSL -o "$FLINK_HOME/lib/flink-sql-connector-kafka-${KAFKA_CONNECTOR_VERSION}.jar" \
    "https://repo1.maven.org/maven2/org/apache/flink/flink-sql-connector-kafka/${KAFKA_CONNECTOR_VERSION}/flink-sql-connector-kafka-${KAFKA_CONNECTOR_VERSION}.jar"
