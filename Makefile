# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PORT   ?= 8000
DEPS_HASH := $(shell cat pyproject.toml | cksum | cut -d' ' -f1)
RUN_STAMP  := $(VENV)/.run-$(DEPS_HASH)
TEST_STAMP := $(VENV)/.test-$(DEPS_HASH)

.PHONY: run test lint format worker beat stack bench load clean

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11 or newer is required"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# Stamps are keyed on pyproject.toml's content: a changed dependency list reinstalls once.
$(RUN_STAMP): | $(VENV)/bin/python
	$(PY) -m pip install -q -e .
	@rm -f $(VENV)/.run-*
	@touch $@

$(TEST_STAMP): | $(VENV)/bin/python
	$(PY) -m pip install -q -e '.[test]'
	@rm -f $(VENV)/.run-* $(VENV)/.test-*
	@touch $@ $(RUN_STAMP)

run: $(RUN_STAMP)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(PY) manage.py seed_demo_devices
	$(PY) manage.py seed_demo_guests
	$(PY) manage.py runserver 127.0.0.1:$(PORT)

# PYTEST_ARGS narrows or decorates the run: make test PYTEST_ARGS="tests/portal -x".
# pytest's exit status 5 (nothing collected, e.g. a -k that matches nothing) is not a failure.
test: $(TEST_STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	@echo "$(PY) -m pytest $(PYTEST_ARGS)"
	@$(PY) -m pytest $(PYTEST_ARGS) || { status=$$?; \
		if [ $$status -eq 5 ]; then echo "pytest collected no tests"; else exit $$status; fi; }

lint: $(TEST_STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(TEST_STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

worker: $(RUN_STAMP)
	$(PY) -m celery -A portal worker -l info

beat: $(RUN_STAMP)
	$(PY) -m celery -A portal beat -l info

# The production-like stack on this machine: gunicorn (2 workers), a Celery worker and beat,
# against the local PostgreSQL and Redis (STACK_DATABASE_URL, STACK_REDIS_URL), outbox delivery.
stack: $(RUN_STAMP)
	$(PY) -m bench.stack --port $(or $(STACK_PORT),8100)

# Benchmarks as ratios to baselines measured in the same run; writes bench/RESULTS.md.
bench: $(TEST_STAMP)
	$(PY) -m bench $(BENCH_ARGS)

# 200 simulated people for 2 minutes against the stack, plus a password sprayer (locust).
load: $(TEST_STAMP)
	$(PY) -m bench.load $(LOAD_ARGS)

clean:
	rm -rf $(VENV) var artifacts
