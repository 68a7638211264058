# Set-up is part of every target: a fresh machine needs only Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-all lint typecheck bench reliability clean messages catalogs

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/aliasdesk demo

test: $(STAMP)
	$(BIN)/pytest -q -m "not slow"

test-all: $(STAMP)
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

# Notification texts: `messages` extracts every msgid into the .pot and merges it into each
# language's .po (translate the new entries there); `catalogs` compiles the .po files into
# the .mo files the mail renderer reads (committed, so a wheel or image needs no Babel step).
LOCALE := templates/email/locale

messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg --no-location --sort-output --omit-header \
		-k CommandHelp:2 -o $(LOCALE)/messages.pot .
	$(BIN)/pybabel update -i $(LOCALE)/messages.pot -d $(LOCALE) \
		--no-fuzzy-matching

catalogs: $(STAMP)
	$(BIN)/pybabel compile -d $(LOCALE) --statistics

bench: $(STAMP)
	$(BIN)/python -m bench.run

RELIABILITY_REPORT ?= reliability-report.jsonl

reliability: $(STAMP)
	rm -f $(RELIABILITY_REPORT)
	ALIASDESK_RELIABILITY_FULL=1 ALIASDESK_RELIABILITY_REPORT=$(abspath $(RELIABILITY_REPORT)) \
		$(BIN)/pytest -q tests/crash tests/faults; status=$$?; \
		$(BIN)/python -m tests.reliability_report $(RELIABILITY_REPORT); exit $$status

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
