# The two commands of the README, and the pieces of the test run.
PYTHON ?= python3
VENV ?= .venv
VENV248 ?= .venv-248
BIN := $(VENV)/bin
# chdb 2.1.1 forks a fresh engine per call (~60 ms each): fewer crash trials keep the 24.8 run short
PARITY_CRASH_TRIALS ?= 3

.PHONY: up test install lint unit parity248 clean

# README command 1: install, then apply the schema to the embedded local engines.
up: install
	$(BIN)/chmigrate up

# README command 2 (what .ci/run runs): install the test dependencies, lint, type-check,
# the whole suite on the current engine, then the server-facing tests on ClickHouse 24.8.
test: install lint unit parity248

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# The editable install leaves chmigrate's modules uncompiled (and PYTHONDONTWRITEBYTECODE=1, where set, keeps
# Python from caching them): compile them once, as a regular pip install does, so no command pays for it.
install: $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	$(BIN)/python -m compileall -q chmigrate

lint:
	$(BIN)/ruff check chmigrate tests bench postgres
	$(BIN)/mypy
	$(BIN)/zizmor --offline --quiet .github/workflows action.yml

unit: $(VENV248)/bin/python
	CHMIGRATE_TEST_CHDB248_PYTHON=$(CURDIR)/$(VENV248)/bin/python $(BIN)/python -m pytest -q

# chdb 2.1.1 embeds ClickHouse 24.8.4 (production's version). It lives in its own virtualenv and serves
# the test HTTP endpoint; the server-facing tests (marker `server`) then run against it through the
# product's HTTP client.
parity248: $(VENV248)/bin/python
	CHMIGRATE_CRASH_TRIALS=$(PARITY_CRASH_TRIALS) $(BIN)/python tests/support/parity.py --python $(VENV248)/bin/python -- $(BIN)/python -m pytest -q -m server

$(VENV248)/bin/python:
	$(PYTHON) -m venv $(VENV248)
	$(VENV248)/bin/python -m pip install -q chdb==2.1.1

clean:
	rm -rf $(VENV) $(VENV248) .chmigrate
