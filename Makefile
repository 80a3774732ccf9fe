# Balcão — the two commands a new user types: `make run` and `make test`.
SHELL := /bin/bash
PY311 ?= python3
PY310 ?= $(shell ls -d $$(pyenv root 2>/dev/null)/versions/3.10.*/bin/python3.10 /usr/bin/python3.10 2>/dev/null | head -1)
VENV := .venv
RASA_VENV := .venv-rasa

.PHONY: run test lint bench venvs model chromium clean

## make run: create the venvs, train Rasa if its data changed, import the articles, start everything.
run: venvs
	$(VENV)/bin/balcao run

## make test: the whole suite (unit, real Rasa end to end, browser, PostgreSQL).
test: venvs
	$(VENV)/bin/balcao rasa train
	$(VENV)/bin/python -m pytest -q tests

## make lint: ruff (lint and format check) and mypy, as configured in pyproject.toml; a noqa or
## type: ignore must say why on its line (.pre-commit-config.yaml runs the same checks).
NO_REASON := \#\s*(noqa(:\s*[A-Z]+[0-9]+(,\s*[A-Z]+[0-9]+)*)?|type:\s*ignore(\[[a-z0-9, -]+\])?)\s*$$
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	@! git grep -nE '$(NO_REASON)' -- '*.py' || { echo "lint: the noqa / type: ignore above must say why on its line"; exit 1; }

## make bench: benchmarks; JSON results in bench/results/.
bench: venvs
	$(VENV)/bin/balcao rasa train
	$(VENV)/bin/python bench/kb_quality.py
	nice -n 10 $(VENV)/bin/python bench/kb_scale.py
	$(VENV)/bin/python bench/turn_latency.py
	$(VENV)/bin/python bench/handoff.py
	$(VENV)/bin/python bench/channels.py
	$(VENV)/bin/python bench/insights.py

venvs: $(VENV)/.installed $(RASA_VENV)/.installed

# torch==2.13.0 first: it is the local CPU wheel; anything else would pull a CUDA build.
$(VENV)/.installed: pyproject.toml
	test -x $(VENV)/bin/python || $(PY311) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q torch==2.13.0
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

# Rasa 3.6 needs Python < 3.11: its own venv, from pyenv's 3.10.
$(RASA_VENV)/.installed: bot/requirements.txt
	@test -n "$(PY310)" || { echo "Python 3.10 not found: install it (e.g. pyenv install 3.10) or set PY310=/path/to/python3.10"; exit 1; }
	test -x $(RASA_VENV)/bin/python || $(PY310) -m venv $(RASA_VENV)
	$(RASA_VENV)/bin/pip install -q --upgrade pip
	$(RASA_VENV)/bin/pip install -q -r bot/requirements.txt
	touch $@

model: venvs
	$(VENV)/bin/balcao rasa train

# Browser tests use Debian's Chromium (never `playwright install`: it downloads a browser).
chromium:
	@test -x /usr/bin/chromium || { apt-get update -qq && apt-get install -y -qq chromium; }

clean:
	rm -rf var/balcao.db* var/rasa-tracker.db var/index
