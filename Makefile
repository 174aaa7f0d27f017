# The two set-up commands: `make demo` (subtitles for the bundled sample) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test test-unit lint events bench clean

$(BIN)/kaption: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

demo: $(BIN)/kaption
	$(BIN)/kaption run samples/demo.mp4 --out out

lint: $(BIN)/kaption
	$(BIN)/ruff check streams agents tests bench
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -q

test-unit: $(BIN)/kaption
	$(BIN)/pytest -q tests/unit

# Regenerate streams/events.py after changing schemas/*.avsc.
events: $(BIN)/kaption
	$(BIN)/python -m streams.codegen

bench: $(BIN)/kaption
	$(BIN)/python bench/pipeline_vs_bare.py

clean:
	rm -rf $(VENV) out
