# The README's two commands, `make run` and `make test`, are all the set-up there is:
# every target creates .venv when it is missing and installs the project into it.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-test
BENCH_STAMP := $(VENV)/.installed-bench
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test test-js lint fix bench chromium node test-tools clean

JS_TOOLS := tools/js
JS_STAMP := $(JS_TOOLS)/node_modules/.installed

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $@

$(BENCH_STAMP): pyproject.toml $(STAMP)
	$(PY) -m pip install --quiet -e '.[test,bench]' || \
	  echo "note: the bench extra (PyTorch) did not install; the PyTorch comparison will be skipped"
	@touch $@

run: $(STAMP)
	$(PY) -m app serve --host $(HOST) --port $(PORT)

chromium:
	@sh scripts/ensure-chromium.sh

node:
	@sh scripts/ensure-node.sh

# TypeScript, exactly as tools/js/package-lock.json pins it (a check of app/static/js, not a build).
$(JS_STAMP): $(JS_TOOLS)/package.json $(JS_TOOLS)/package-lock.json | node
	cd $(JS_TOOLS) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# Every static check, each run even when an earlier one fails; fails if any failed.
lint: $(STAMP) $(JS_STAMP)
	@status=0; \
	echo "ruff check"; $(VENV)/bin/ruff check . || status=1; \
	echo "ruff format --check"; $(VENV)/bin/ruff format --check . || status=1; \
	echo "mypy (app/)"; $(PY) -m mypy || status=1; \
	echo "tsc (app/static/js)"; $(JS_TOOLS)/node_modules/.bin/tsc --project $(JS_TOOLS) && echo "tsc: no errors" || status=1; \
	exit $$status

# Formats the tree and applies ruff's safe fixes; what remains, `make lint` names.
fix: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# kubectl, nginx and promtool for the deploy and replica tests (Debian's packages; see the script).
test-tools: | $(PY)
	@VENV=$(VENV) sh scripts/ensure-test-tools.sh

# The page's logic that needs no browser (the race client's state machine), by Node's own test
# runner over the page's modules as they are: no build, no package beyond Node.
test-js: node
	node --test tests/js/*.test.mjs

test: lint test-js chromium test-tools
	$(PY) -m pytest

bench: $(BENCH_STAMP)
	$(PY) -m app bench

clean:
	rm -rf $(VENV) $(JS_TOOLS)/node_modules tests/artifacts .pytest_cache .hypothesis .mypy_cache .ruff_cache
