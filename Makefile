# Balcão — the two commands a new user types: `make run` and `make test`.
SHELL := /bin/bash
PY311 ?= python3
PY310 ?= $(shell ls -d $$(pyenv root 2>/dev/null)/versions/3.10.*/bin/python3.10 /usr/bin/python3.10 2>/dev/null | head -1)
VENV := .venv
RASA_VENV := .venv-rasa

.PHONY: run run-scaled test lint bench venvs lock audit model chromium clean screenshots

# Every script in bench/ is a benchmark (kb_scale runs for long: niced so the machine stays usable).
BENCHES := $(sort $(wildcard bench/*.py))

## make run: create the venvs, train Rasa if its data changed, import the articles, start everything.
run: venvs
	$(VENV)/bin/balcao run

## make run-scaled: REPLICAS hubs and RASA Rasa servers behind HAProxy (installed from Debian's packages
## if missing), on this machine's PostgreSQL and Redis; BALCAO_DATABASE_URL / BALCAO_REDIS_URL override them.
REPLICAS ?= 2
RASA ?= 1
SCALED_DB ?= postgresql+asyncpg://postgres@127.0.0.1:5432/balcao
run-scaled: venvs
	@[ -n "$$BALCAO_DATABASE_URL" ] || ! command -v psql >/dev/null || \
	  psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='balcao'" | grep -q 1 || \
	  psql -h 127.0.0.1 -U postgres -d postgres -qc 'CREATE DATABASE balcao' || true
	BALCAO_DATABASE_URL=$${BALCAO_DATABASE_URL:-$(SCALED_DB)} BALCAO_REDIS_URL=$${BALCAO_REDIS_URL:-redis://127.0.0.1:6379/0} \
	  $(VENV)/bin/balcao run --replicas $(REPLICAS) --rasa $(RASA)

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

## make bench: every benchmark in bench/ (not its helper modules: load_clients, services, profile_hub); JSON results in bench/results/.
bench: venvs
	$(VENV)/bin/balcao rasa train
	@set -e; for script in $(BENCHES); do \
	  echo "== $$script"; \
	  case $$script in \
	    bench/kb_scale.py) nice -n 10 $(VENV)/bin/python $$script ;; \
	    bench/load_clients.py|bench/services.py|bench/profile_hub.py) ;; \
	    bench/load.py) nice -n 5 $(VENV)/bin/python $$script ;; \
	    *) $(VENV)/bin/python $$script ;; \
	  esac; \
	done

## make screenshots: every page and widget state of a real desk (hub + Rasa) at 390x844 and 1280x800,
## in the languages where it changes, into docs/screenshots/ (squeezed by pngquant when installed).
screenshots: venvs chromium
	$(VENV)/bin/balcao rasa train
	$(VENV)/bin/python tools/screenshots.py

venvs: $(VENV)/.installed $(RASA_VENV)/.installed

# Both venvs install from lock files that pin every package with its hashes (`make lock` writes them).
# torch is pinned as torch==2.13.0+cpu with the hash of the local CPU wheel: pip can take no other torch
# (never a CUDA build), and nothing else is resolved, so no order of installation can pull one.
$(VENV)/.installed: pyproject.toml requirements/hub.lock
	test -x $(VENV)/bin/python || $(PY311) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q --require-hashes -r requirements/hub.lock
	$(VENV)/bin/pip install -q --no-deps -e .
	touch $@

# Rasa 3.6 needs Python < 3.11: its own venv, from pyenv's 3.10.
$(RASA_VENV)/.installed: bot/requirements.txt requirements/rasa.lock
	@test -n "$(PY310)" || { echo "Python 3.10 not found: install it (e.g. pyenv install 3.10) or set PY310=/path/to/python3.10"; exit 1; }
	test -x $(RASA_VENV)/bin/python || $(PY310) -m venv $(RASA_VENV)
	$(RASA_VENV)/bin/pip install -q --upgrade pip
	$(RASA_VENV)/bin/pip install -q --require-hashes -r requirements/rasa.lock
	touch $@

## make lock: rewrite requirements/hub.lock (pyproject.toml + dev) and requirements/rasa.lock
## (bot/requirements.txt) with pip-compile; LOCK_FLAGS=--upgrade moves every pin to its newest release.
## pip-tools runs from its own venvs (one per Python: a lock holds the resolution for one version).
LOCK_TOOLS := var/lock-tools
LOCK_FLAGS ?=
PIP_COMPILE := CUSTOM_COMPILE_COMMAND="make lock" pip-compile --quiet --generate-hashes --allow-unsafe \
	--strip-extras --no-emit-index-url --no-emit-find-links $(LOCK_FLAGS)
lock:
	@test -n "$(PY310)" || { echo "Python 3.10 not found: set PY310=/path/to/python3.10"; exit 1; }
	test -x $(LOCK_TOOLS)/py311/bin/pip-compile || { $(PY311) -m venv $(LOCK_TOOLS)/py311 && $(LOCK_TOOLS)/py311/bin/pip install -q pip-tools==7.7.0; }
	test -x $(LOCK_TOOLS)/py310/bin/pip-compile || { $(PY310) -m venv $(LOCK_TOOLS)/py310 && $(LOCK_TOOLS)/py310/bin/pip install -q pip-tools==7.7.0; }
	PATH=$(LOCK_TOOLS)/py311/bin:$$PATH $(PIP_COMPILE) --extra dev -o requirements/hub.lock pyproject.toml
	PATH=$(LOCK_TOOLS)/py310/bin:$$PATH $(PIP_COMPILE) -o requirements/rasa.lock bot/requirements.txt

## make audit: the locks against the advisory snapshot in requirements/advisories (offline; also in make test).
audit: $(VENV)/.installed
	$(VENV)/bin/python requirements/audit.py

model: venvs
	$(VENV)/bin/balcao rasa train

# Browser tests use Debian's Chromium (never `playwright install`: it downloads a browser).
chromium:
	@test -x /usr/bin/chromium || { apt-get update -qq && apt-get install -y -qq chromium; }

## make clean: forget the desk's data (database, Rasa trackers, search index cache, uploaded files);
## the trained Rasa models (var/rasa-models) and tuned encoders (var/models) are kept.
clean:
	rm -rf var/balcao.db* var/rasa-tracker.db* var/index var/media
