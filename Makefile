# The two commands: `make demo` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
KAFKA_VERSION := 3.9.1
KAFKA_LIBS := .cache/kafka/$(KAFKA_VERSION)/libs

.PHONY: setup demo test kafka-jars chromium vegeta clean help

help:
	@echo "make demo   set up, then stream a simulated province through the embedded stack; prints the web URL"
	@echo "            and a sign-in for each role (Ctrl-C stops everything)"
	@echo "make test   set up, then run the test suite against a real local Kafka broker and chdb"
	@echo "make vegeta build the gateway benchmark's load generator (needs Go; ravao bench gateway runs it)"

setup: $(VENV)/.installed $(KAFKA_LIBS)/.complete

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

kafka-jars: $(KAFKA_LIBS)/.complete

# The browser tests drive Debian's Chromium with Playwright (never a downloaded browser);
# only `make test` needs it.
chromium:
	@test -x /usr/bin/chromium || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver; }

# The gateway benchmark's load generator (bench/vegeta.py runs this target when it is
# missing): a Go program, built from the Go module proxy into .cache/tools/bin.
VEGETA_VERSION := v12.13.0
TOOLS_BIN := .cache/tools/bin

vegeta: $(TOOLS_BIN)/vegeta

$(TOOLS_BIN)/vegeta:
	@command -v go >/dev/null || { echo "Go is needed to build vegeta, the gateway benchmark's load generator (apt-get install golang-go, or put vegeta on PATH)"; exit 1; }
	mkdir -p $(TOOLS_BIN)
	GOBIN=$(CURDIR)/$(TOOLS_BIN) go install github.com/tsenart/vegeta/v12@$(VEGETA_VERSION)

$(KAFKA_LIBS)/.complete: pipeline/kafka_pom.xml
	@command -v java >/dev/null || { echo "Java 17+ is needed for the local Kafka broker (apt-get install openjdk-17-jre-headless)"; exit 1; }
	@command -v mvn >/dev/null || { echo "Maven is needed to fetch the Kafka jars (apt-get install maven)"; exit 1; }
	mvn --quiet --batch-mode -f pipeline/kafka_pom.xml dependency:copy-dependencies \
	    -Dkafka.version=$(KAFKA_VERSION) -DoutputDirectory=$(CURDIR)/$(KAFKA_LIBS)
	touch $@

demo: setup
	$(BIN)/ravao demo

test: setup chromium
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .cache data .pytest_cache
