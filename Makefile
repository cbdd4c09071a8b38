# streaming-lab: `make lab` to work through the notebooks, `make test` to check everything.
# Both set up from nothing: Debian packages (if missing), .venv, the JVM jars.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
LABKIT := $(BIN)/labkit
# Jupyter refuses to run as root unless told; containers and CI machines often are root.
AS_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: lab test notebooks bench check setup system browser venv jvm up doctor down status reset \
        lint jupyter

# PROFILE=core leaves out the standalone Flink cluster (less memory; notebook 06 needs it).
PROFILE ?= flink

# The JupyterLab server learners get, in one place: `make lab` runs it, and so does the
# browser test (tests/integration/test_browser.py, through `make jupyter`) with its own
# JUPYTER_ROOT (a copy of the notebook) and JUPYTER_ARGS (a free port, --no-browser).
JUPYTER_ROOT ?= notebooks
JUPYTER_ARGS ?=
JUPYTER_LAB = $(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.root_dir=$(JUPYTER_ROOT) \
              $(AS_ROOT) $(JUPYTER_ARGS)
# The browser test drives Debian's Chromium (never a browser download of Playwright's own);
# exported, so the test launches the same binary this Makefile checks.
LAB_CHROMIUM ?= /usr/bin/chromium
export LAB_CHROMIUM

lab: setup  ## check the machine, start the stack and open JupyterLab (the stack stays up: `make down`)
	$(LABKIT) doctor --profile $(PROFILE)
	$(LABKIT) stack up --profile $(PROFILE)
	$(JUPYTER_LAB)

jupyter:  ## only JupyterLab, as `make lab` opens it (no setup, no stack: the browser test runs this)
	$(JUPYTER_LAB)

test: setup browser lint  ## unit + integration + notebook tests; starts (and then stops) the stack as needed
	$(BIN)/python -m pytest

notebooks: setup  ## re-execute every notebook in place against the live stack (outputs come from here)
	$(LABKIT) stack up --flink-cluster
	$(BIN)/jupyter nbconvert --to notebook --execute --inplace \
	    --ExecutePreprocessor.timeout=900 --ExecutePreprocessor.record_timing=False \
	    notebooks/[0-9]*.ipynb

bench: setup  ## every engine at 10K..1M events, scale-out, latency; results under .lab/bench/
	$(LABKIT) stack up --flink-cluster
	$(LABKIT) bench suite

check: setup  ## grade a chapter's exercises: make check CH=01 (SOLUTIONS=1 grades the references)
	@test -n "$(CH)" || { echo "usage: make check CH=01"; exit 2; }
	$(LABKIT) stack up $(if $(filter 09,$(CH)),--profile cluster)
	$(LABKIT) check $(CH) $(if $(SOLUTIONS),--solutions)

setup: system venv jvm

system:  ## Debian packages the embedded stack runs on, installed only when missing
	@missing=""; \
	command -v javac >/dev/null || missing="$$missing openjdk-17-jdk-headless"; \
	command -v mvn >/dev/null || missing="$$missing maven"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	        echo "installing:$$missing"; \
	        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	    else \
	        echo "Missing:$$missing. Install them (e.g. sudo apt-get install$$missing, or use environment.yml with conda), then run make again."; \
	        exit 1; \
	    fi; \
	fi

browser:  ## Debian's Chromium for the browser test (make test), installed only when missing
	@if [ ! -x "$(LAB_CHROMIUM)" ]; then \
	    if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	        echo "installing: chromium"; \
	        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	    else \
	        echo "Missing: $(LAB_CHROMIUM) (the browser test drives it). Install it (e.g. sudo apt-get install chromium), or run make test LAB_CHROMIUM=/path/to/chromium."; \
	        exit 1; \
	    fi; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11 not found: install it or run make PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $@

jvm: venv  ## Kafka, Apicurio and the Flink Kafka connector from Maven Central (pom.xml)
	$(LABKIT) stack fetch

up: setup
	$(LABKIT) stack up --profile $(PROFILE)
doctor: venv  ## can the stack start here? every problem with its fix
	$(LABKIT) doctor --profile $(PROFILE)
down:
	$(LABKIT) stack down
status:
	$(LABKIT) stack status
reset:  ## stop labkit's servers and delete .lab/data and .lab/logs (topics, schemas, Redis keys)
	$(LABKIT) stack reset

lint: venv
	$(BIN)/ruff check .
