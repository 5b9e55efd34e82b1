# aifactory — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
# pytest's exit code 5 ("no tests collected") is a failure here, never a pass.
PYTEST_ARGS ?= -n 2 --dist loadgroup

.PHONY: run test lint typecheck unit vendor screenshots bench bench-slurm bench-sched bench-data bench-web bench-compliance clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $(VENV)/.installed $@

run: $(VENV)/.installed
	$(BIN)/aif serve --host $(HOST) --port $(PORT)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

# The portal's browser assets from package-lock.json's packages into web/static/vendor: docs/portal.md.
vendor:
	npm ci
	scripts/vendor-assets.sh

# The README's two pictures of the portal, taken by the new user's browser flow: docs/portal.md.
screenshots: $(VENV)/.installed-test
	AIF_SCREENSHOTS=docs/img AIF_REQUIRE_BROWSER=1 $(BIN)/python -m pytest -p no:xdist -q \
		tests/browser/test_new_user_in_a_browser.py

bench: $(VENV)/.installed-test
	$(BIN)/python bench/submit.py --start-server --clients 16 --jobs 5000

# Real Slurm (scripts/slurm-test-cluster.sh, root): exit 2 when this machine cannot run it.
bench-slurm: $(VENV)/.installed-test
	$(BIN)/python bench/slurm.py --jobs 2000 --sync-jobs 10000

# One scheduling cycle on synthetic snapshots (1k to 1M pending jobs): docs/benchmarks.md.
bench-sched: $(VENV)/.installed-test
	$(BIN)/python bench/sched.py --sizes 1000,10000,100000,1000000 --repeat 3
	$(BIN)/python bench/sched_live.py --jobs 10000
	$(BIN)/python bench/sched_live.py --jobs 100000

# The portal's dashboard, jobs list and job page with 100k jobs and 1k projects: docs/benchmarks.md.
bench-web: $(VENV)/.installed-test
	$(BIN)/python bench/web.py --jobs 100000 --orgs 100 --projects-per-org 10 --requests 200

# A 1 GiB file up and down through a fresh server over loopback HTTP: docs/benchmarks.md.
bench-data: $(VENV)/.installed-test
	$(BIN)/python bench/data.py --size-mib 1024

# Issue 13: verify an audit chain of 1,000,000 events (<= 10 s) and recompute every model's
# ledger over 1,000,000 usage records (<= 5 s): docs/benchmarks.md.
bench-compliance: $(VENV)/.installed-test
	$(BIN)/python bench/compliance.py --audit-events 1000000 --usage-records 1000000

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
