# The two set-up commands: `make demo` (subtitles for the bundled sample) and `make test`.
# Both run on Apache Kafka (Java 17+ and Maven: `make kafka` fetches the broker's jars once).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Tests run real third-party programs from Debian: Prometheus (observability), Chromium (the web
# page) and kcat (a producer that knows nothing of kaption).
DEBIAN_TOOLS := prometheus chromium kcat apertium apertium-eng-spa
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Apache Kafka's jars, resolved once through Maven into the user's cache (streams/broker/local.py
# looks there; the release is pinned in docker/kafka/pom.xml).
KAFKA_VERSION := $(shell sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' docker/kafka/pom.xml)
KAFKA_HOME ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/kaption/kafka-$(KAFKA_VERSION)
KAFKA_JAR := $(KAFKA_HOME)/libs/kafka_2.13-$(KAFKA_VERSION).jar

.PHONY: demo test test-unit lint events bench clean kafka debian-tools

$(BIN)/kaption: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

$(KAFKA_JAR): docker/kafka/pom.xml
	command -v mvn >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) env \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends maven; }
	mvn -q -B -f docker/kafka/pom.xml dependency:copy-dependencies -DincludeScope=runtime \
		-DoutputDirectory=$(KAFKA_HOME)/libs
	touch $@

kafka: $(KAFKA_JAR)

demo: $(BIN)/kaption $(KAFKA_JAR)
	$(BIN)/kaption run samples/demo.mp4 --out out

lint: $(BIN)/kaption
	$(BIN)/ruff check streams agents clients tests bench grafana
	$(BIN)/mypy

debian-tools:
	@for tool in $(DEBIAN_TOOLS); do command -v $$tool >/dev/null || missing=1; done; \
	if [ -n "$$missing" ]; then \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(DEBIAN_TOOLS); \
	fi

test: lint debian-tools $(KAFKA_JAR)
	$(BIN)/pytest -q

test-unit: $(BIN)/kaption
	$(BIN)/pytest -q tests/unit

# Regenerate streams/events/model.py after changing schemas/*.avsc.
events: $(BIN)/kaption
	$(BIN)/python -m streams.events.codegen

bench: $(BIN)/kaption
	$(BIN)/python bench/pipeline_vs_bare.py
	$(BIN)/python bench/metrics_cost.py

clean:
	rm -rf $(VENV) out
