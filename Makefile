# Two commands matter: `make run` and `make test`. Both create .venv and install on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Exact versions, with hashes, of everything `make run` and `make test` install: a fresh machine gets what
# CI tested. After changing a dependency in pyproject.toml, run `make lock` and commit both files.
LOCK   := requirements.lock

.PHONY: run test test-fast bench bench-quick lock browser clean

$(STAMP): pyproject.toml $(LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing the locked dependencies into $(VENV) ..."
	@$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	@$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

run: $(STAMP)  ## start the demo: embedded PostgreSQL, demo clinic, web server on 127.0.0.1:8080
	$(BIN)/frontdesk dev

test: $(STAMP)  ## lint, types, layers, then the whole suite, against DATABASE_URL/REDIS_URL or embedded servers
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m 'not slow' $(PYTEST_ARGS)

bench: $(STAMP)  ## issue 10's figures beside same-run baselines and targets, median of 3 (~6 min); see bench/README.md
	$(BIN)/python bench/run.py $(BENCH_ARGS)

bench-quick: $(STAMP)  ## the headline rows (check_availability, reserve, racers, ratios), one run each, < 2 min
	$(BIN)/python bench/run.py --quick $(BENCH_ARGS)

lock:  ## re-resolve requirements.lock from pyproject.toml (newest versions that satisfy it, with hashes)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet "pip-tools>=7.4"
	$(BIN)/pip-compile --quiet --generate-hashes --extra test --strip-extras --allow-unsafe \
		--no-emit-index-url --no-emit-find-links --output-file $(LOCK) pyproject.toml

#: where the browser test (tests/e2e/test_admin_browser.py) finds Chromium; Playwright drives it and never
#: downloads a browser of its own
CHROMIUM := /usr/bin/chromium

browser:  ## install Debian's chromium for the browser test (as root, with apt-get); .ci/run does it too
	@if [ -x $(CHROMIUM) ]; then echo "Chromium is installed: $(CHROMIUM)"; \
	elif ! command -v apt-get >/dev/null; then \
		echo "no apt-get here: install Chromium (or a symlink to it) at $(CHROMIUM)"; exit 1; \
	elif [ "$$(id -u)" != 0 ]; then echo "installing Chromium needs root: sudo make browser"; exit 1; \
	else echo "installing Debian's chromium with apt-get ..."; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; fi

clean:
	rm -rf $(VENV) .data .pytest_cache
