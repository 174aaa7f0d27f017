# The two set-up commands: `make demo` (subtitles for the bundled sample) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The observability tests run a real Prometheus server (Debian's package).
PROMETHEUS := /usr/bin/prometheus
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test test-unit lint events bench clean

$(BIN)/kaption: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

demo: $(BIN)/kaption
	$(BIN)/kaption run samples/demo.mp4 --out out

lint: $(BIN)/kaption
	$(BIN)/ruff check streams agents tests bench grafana
	$(BIN)/mypy

$(PROMETHEUS):
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus

test: lint $(PROMETHEUS)
	$(BIN)/pytest -q

test-unit: $(BIN)/kaption
	$(BIN)/pytest -q tests/unit

# Regenerate streams/events.py after changing schemas/*.avsc.
events: $(BIN)/kaption
	$(BIN)/python -m streams.codegen

bench: $(BIN)/kaption
	$(BIN)/python bench/pipeline_vs_bare.py
	$(BIN)/python bench/metrics_cost.py

clean:
	rm -rf $(VENV) out
