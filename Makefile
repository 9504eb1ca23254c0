# The README's two commands, `make run` and `make test`, are all the set-up there is:
# every target creates .venv when it is missing and installs the project into it.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-test
BENCH_STAMP := $(VENV)/.installed-bench
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test bench chromium test-tools clean

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

# kubectl, nginx and promtool for the deploy and replica tests (Debian's packages; see the script).
test-tools: | $(PY)
	@VENV=$(VENV) sh scripts/ensure-test-tools.sh

test: $(STAMP) chromium test-tools
	$(PY) -m pytest

bench: $(BENCH_STAMP)
	$(PY) -m app bench

clean:
	rm -rf $(VENV) tests/artifacts .pytest_cache .hypothesis
