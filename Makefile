# The two set-up commands: `make demo` (subtitles for the bundled sample) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench clean

$(BIN)/kaption: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

demo: $(BIN)/kaption
	$(BIN)/kaption run samples/demo.mp4 --out out

test: $(BIN)/kaption
	$(BIN)/ruff check streams agents tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q

bench: $(BIN)/kaption
	$(BIN)/python bench/pipeline_vs_bare.py

clean:
	rm -rf $(VENV) out .kaption
