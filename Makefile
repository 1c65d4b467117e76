# One-command setup. `make run` serves the demo; `make test` runs lint and the test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test lint format bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# Migrates, seeds the demo (idempotent), then serves the site and a django-q2 worker together;
# Ctrl-C stops both. Development mode (DEBUG=1) unless the environment says otherwise.
run: export DEBUG ?= 1
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
run: $(STAMP)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	@echo
	@echo "  Site:          http://$(HOST):$(PORT)/"
	@echo "  Wagtail admin: http://$(HOST):$(PORT)/admin/"
	@echo "  Django admin:  http://$(HOST):$(PORT)/django-admin/"
	@echo "  API docs:      http://$(HOST):$(PORT)/api/docs/"
	@echo
	@trap 'kill 0' INT TERM EXIT; \
	$(BIN)/python manage.py qcluster & \
	$(BIN)/python manage.py runserver --noreload $(HOST):$(PORT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: lint
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/placement.py
	$(BIN)/python bench/compliance.py
	$(BIN)/python bench/messaging.py --accounts 100000 --plan-workers 2 --workers 2
	$(BIN)/python bench/portal.py
	$(BIN)/python bench/recommender.py

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles .pytest_cache
