# `make run` serves the demo; `make test` runs lint and the test suite. Installs come from the
# committed lock file uv.lock; `make upgrade` re-resolves it (one deliberate commit).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.synced
# uv, pinned with hashes in requirements-uv.txt, lives in a small virtualenv of its own.
UV_VENV := .venv-uv
UV := $(UV_VENV)/bin/uv
HOST ?= 127.0.0.1
PORT ?= 8000
# The development settings file `make run` writes once (scripts/dev_env.py); settings read it.
ENV_FILE ?= .env
export ENV_FILE
# uv uses the PYTHON given here and never downloads an interpreter of its own, and trusts the
# machine's certificate store (as pip does), so it works behind a TLS-inspecting proxy too.
export UV_PYTHON_DOWNLOADS := never
export UV_SYSTEM_CERTS ?= 1
# uv installs packages without their bytecode (pip compiles it); Python then compiles each
# module the first time it is imported and caches it in __pycache__, unless the machine sets
# PYTHONDONTWRITEBYTECODE, as this project's VMs do: then every process (a test run, a
# worker, manage.py, the simulator and its learner process) compiles Django, Wagtail, NumPy
# and SciPy from source again. Compiled at install instead: Django's set-up takes 1.7-1.9 s
# instead of 4.4-5.1 s (docs/benchmarks.md, "Simulator speed").
export UV_COMPILE_BYTECODE ?= 1

.PHONY: check-python install install-production setup run test lint format bench upgrade clean

check-python:
	@$(PYTHON) scripts/check_python.py

$(UV): requirements-uv.txt | check-python
	$(PYTHON) -m venv $(UV_VENV)
	$(UV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes \
		--no-deps -r requirements-uv.txt
	touch $(UV)

# Exactly what uv.lock says (the dev group included); fails if uv.lock no longer matches
# pyproject.toml, rather than resolving anew.
$(STAMP): $(UV) pyproject.toml uv.lock | check-python
	$(UV) sync --locked --python $(PYTHON)
	touch $(STAMP)

install: $(STAMP)

# A server's install: the same lock, without the dev group (tests, lint, browsers).
install-production: $(UV) | check-python
	$(UV) sync --locked --no-dev --python $(PYTHON)
	rm -f $(STAMP)

# Everything `make run` does before serving: install, write .env once, migrate, seed the
# demo (idempotent). Every command in the README works after it.
setup run: export LOG_LIBRARY_LEVEL ?= WARNING
setup: $(STAMP)
	@$(BIN)/python scripts/dev_env.py
	$(BIN)/python manage.py migrate --noinput --verbosity 0
	$(BIN)/python manage.py seed_demo

# Serves the site and a django-q2 worker together (scripts/run_dev.py); Ctrl-C or SIGTERM
# stops both. Development mode, links built for HOST:PORT, e-mail written to outbox/mail/.
SITE_HOST := $(if $(filter 0.0.0.0 ::,$(HOST)),localhost,$(HOST))
run: export DEBUG ?= 1
run: export SITE_URL ?= http://$(SITE_HOST):$(PORT)
# Demo values for the disclosures some regions require (DE, FR, US-CA): without them those
# messages are refused, which is right in production but hides half the demo. Set the real
# ones in the environment (.env.example); these apply to `make run` only.
run: export MESSAGING_COLLECTOR_NAME ?= Demo Collections Ltd (demo value)
run: export MESSAGING_COLLECTOR_ADDRESS ?= 1 Demo Street, 10115 Berlin (demo value)
run: export MESSAGING_CREDITOR_ADDRESS ?= 2 Demo Avenue, 75001 Paris (demo value)
run: export MESSAGING_CA_LICENSE_NUMBER ?= DEMO-0000 (demo value)
run: export MESSAGING_SUPERVISORY_AUTHORITY ?= Demo supervisory authority (demo value)
run: export MESSAGING_INTEREST_CALCULATION ?= No interest is charged (demo value).
run: export MESSAGING_COLLECTION_COSTS ?= No collection costs are charged (demo value).
run: export MESSAGING_VAT_STATEMENT ?= No VAT applies (demo value).
run: export MESSAGING_ADDRESS_SOURCE ?= the creditor (demo value)
run: export MESSAGING_PAYMENT_METHODS ?= card or bank transfer in the portal (demo value)
# The demo history (docs/demo.md) sends about 9,000 messages in its 90 days: at 10% control
# and a 20% uplift to detect, the uplift report would need about 46,000 to show a figure. The
# demo splits the traffic 30/70 and asks for a 50% uplift, so the band appears within the
# history (about 3,600 sends); production keeps the settings' defaults.
run: export RECOMMENDER_CONTROL_SHARE ?= 0.3
run: export RECOMMENDER_UPLIFT_MIN_DETECTABLE ?= 0.5
run: setup
	@echo
	@echo "  Site:          $(SITE_URL)/"
	@echo "  Wagtail admin: $(SITE_URL)/admin/"
	@echo "  Django admin:  $(SITE_URL)/django-admin/"
	@echo "  API docs:      $(SITE_URL)/api/docs/"
	@echo "  Messages sent: outbox/ (e-mail in outbox/mail/); Ctrl-C stops the site and worker"
	@echo
	$(BIN)/python scripts/run_dev.py --host $(HOST) --port $(PORT)

# ruff; the import rules between apps and the Django-free cores (pyproject.toml
# [tool.importlinter]); every import a declared dependency, every dependency used ([tool.deptry]).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/deptry .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The Django-free cores' tests, run a second time with no Django at all (no pytest-django, no
# conftest, no settings): they must pass where Django is not configured.
# tests/test_architecture.py checks this list against the cores (docs/architecture.md).
DJANGO_FREE_TESTS := accounts/tests/test_money.py compliance/tests/test_engine*.py \
	compliance/tests/test_cases.py messaging/tests/test_rendering.py \
	recommender/tests/test_learning*.py recommender/tests/test_evaluation.py

test: lint
	$(BIN)/python -m pytest
	$(BIN)/python -m pytest -p no:django --noconftest -o addopts="-ra --strict-markers" \
		-W ignore::pytest.PytestConfigWarning $(wildcard $(DJANGO_FREE_TESTS))

# Re-resolve every dependency to the newest release pyproject.toml's ranges allow, install
# exactly that, and run the tests: commit uv.lock with what the tests say.
upgrade: $(UV) | check-python
	$(UV) lock --upgrade --python $(PYTHON)
	$(UV) sync --locked --python $(PYTHON)
	touch $(STAMP)
	$(MAKE) test

bench: $(STAMP)
	$(BIN)/python bench/placement.py
	$(BIN)/python bench/compliance.py
	$(BIN)/python bench/messaging.py --accounts 100000 --plan-workers 2 --workers 2
	$(BIN)/python bench/scaleout.py
	$(BIN)/python bench/portal.py
	$(BIN)/python bench/recommender.py
	$(BIN)/python bench/cockpit.py

clean:
	rm -rf $(VENV) $(UV_VENV) db.sqlite3 staticfiles .pytest_cache
