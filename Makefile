# Two set-up commands (README): `make run` and `make test`. Both work on a fresh Debian with Python 3.11.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
DEMO_RESIDENTS ?= 20000
FLASK := $(BIN)/flask --app app
# WebAuthn needs the exact origin the browser uses; links printed by first-admin use it too.
KENSHIN_ORIGIN ?= http://localhost:$(PORT)
export KENSHIN_ORIGIN

.PHONY: run test venv deps test-deps browser clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11 or newer is needed"'
	@$(PYTHON) -m venv --help >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq python3-venv; }
	$(PYTHON) -m venv $(VENV)

$(VENV)/.deps: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[demo]'
	@touch $@

$(VENV)/.test-deps: pyproject.toml $(VENV)/.deps
	$(BIN)/pip install -q -e '.[demo,test]'
	@touch $@

# Debian's Chromium (Playwright's own browser download cannot work on the closed network),
# Japanese fonts for printing, and pdftotext for checking printed PDFs.
browser:
	@if ! command -v chromium >/dev/null || ! command -v pdftotext >/dev/null || ! fc-list 2>/dev/null | grep -qi "noto.*cjk"; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk poppler-utils >/dev/null; \
	  else echo "!!! chromium / fonts-noto-cjk / poppler-utils missing and not root: browser tests will skip"; fi; \
	fi

run: $(VENV)/.deps
	$(FLASK) init-db
	$(FLASK) demo-data --residents $(DEMO_RESIDENTS) --if-empty
	$(FLASK) first-admin
	$(BIN)/gunicorn --workers 2 --bind 127.0.0.1:$(PORT) \
	  --access-logformat '%(h)s %(t)s "%(m)s %(U)s" %(s)s %(b)s %(L)s' --access-logfile - \
	  'app:create_app()'

test: $(VENV)/.test-deps browser
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .pytest_cache
