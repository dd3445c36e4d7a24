# rtt: build, run and test the pipeline on one machine.
#
#   make build            binaries of the four services and of rtt into bin/
#   make run [DEMO=1]     everything in the foreground with console logs (Ctrl-C stops it)
#   make up / make down   the same in the background, logs in .data/run/rtt.log
#   make test             unit and integration tests (installs ClickHouse when missing and root)
#
# Addresses and ports come from the RTT_* environment variables that the
# services and 'bin/rtt dev' read (flags of the same name win):
#   RTT_ADDR                  ingest HTTP API               127.0.0.1:8080 (base path /api/rtt)
#   RTT_NATS_PORT             NATS embedded in ingest       4222
#   RTT_DRIFT_ADDR            drift /metrics /readyz        127.0.0.1:8081
#   RTT_CORRIDOR_ADDR         corridor /metrics /readyz     127.0.0.1:8082
#   RTT_SINK_ADDR             sink /metrics /readyz         127.0.0.1:8083
#   RTT_CLICKHOUSE_PORT       ClickHouse native protocol    9000
#   RTT_CLICKHOUSE_HTTP_PORT  ClickHouse HTTP               8123
#   RTT_DATA_DIR              data folder                   .data (NATS, ClickHouse, run/)
#   RTT_DEMO                  1 runs the load generator     (same as DEMO=1)
# Any other RTT_* variable reaches the services unchanged (e.g. RTT_TOKEN).
# Example: RTT_ADDR=127.0.0.1:9080 RTT_CLICKHOUSE_PORT=9100 make up

SHELL := /bin/bash
.DEFAULT_GOAL := help

GO            ?= go
BIN           := bin
DATA_DIR      := $(or $(RTT_DATA_DIR),.data)
RUN_DIR       := $(DATA_DIR)/run
PID_FILE      := $(RUN_DIR)/rtt.pid
LOG_FILE      := $(RUN_DIR)/rtt.log
READY_TIMEOUT ?= 120s
STOP_TIMEOUT  ?= 120
TEST_TIMEOUT  ?= 20m
TEST_FLAGS    ?=

DEV_FLAGS := -bin-dir $(BIN) -data-dir $(DATA_DIR) $(if $(filter 1 true yes,$(DEMO)),-demo)

export CGO_ENABLED := 0

.PHONY: help build run up down test test-go test-sdk bench fmt vet clean clickhouse

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

build: ## build bin/ingest, bin/drift, bin/corridor, bin/sink and bin/rtt (CGO_ENABLED=0, -trimpath)
	$(GO) build -trimpath -o $(BIN)/ ./services/... ./cmd/rtt

run: build ## run everything in the foreground with console logs; DEMO=1 adds the load generator
	$(BIN)/rtt dev $(DEV_FLAGS)

up: build ## start everything in the background (log: .data/run/rtt.log) and wait until ready
	@mkdir -p $(RUN_DIR)
	@if [ -f $(PID_FILE) ] && kill -0 $$(cat $(PID_FILE)) 2>/dev/null; then \
	  echo "rtt is already running (pid $$(cat $(PID_FILE))); 'make down' stops it"; \
	  exec $(BIN)/rtt wait-ready -data-dir $(DATA_DIR) -log $(LOG_FILE) -timeout $(READY_TIMEOUT); \
	fi; \
	nohup $(BIN)/rtt dev $(DEV_FLAGS) > $(LOG_FILE) 2>&1 < /dev/null & \
	  pid=$$!; \
	  echo "rtt dev started (pid $$pid), log in $(LOG_FILE); waiting until ready"; \
	  if ! $(BIN)/rtt wait-ready -data-dir $(DATA_DIR) -pid $$pid -log $(LOG_FILE) -timeout $(READY_TIMEOUT); then \
	    kill -TERM $$pid 2>/dev/null; exit 1; \
	  fi

down: ## stop what 'make up' started (SIGTERM, wait, then SIGKILL) and remove its run files
	@if [ -f $(PID_FILE) ]; then \
	  pid=$$(cat $(PID_FILE)); \
	  if kill -TERM $$pid 2>/dev/null; then \
	    echo "stopping rtt dev (pid $$pid)"; \
	    for i in $$(seq $$(( $(STOP_TIMEOUT) * 5 ))); do kill -0 $$pid 2>/dev/null || break; sleep 0.2; done; \
	    if kill -0 $$pid 2>/dev/null; then echo "still running after $(STOP_TIMEOUT)s: killing it"; kill -KILL $$pid; fi; \
	  fi; \
	else \
	  echo "rtt is not running (no $(PID_FILE))"; \
	fi
	@rm -f $(PID_FILE) $(RUN_DIR)/ready $(RUN_DIR)/ready.tmp

clickhouse: ## install clickhouse-server if it is missing (apt-get, as root)
	@scripts/install-clickhouse

test: build clickhouse test-go test-sdk ## ensure ClickHouse, then run the Go, Python and JS tests

test-go: ## go test ./... uncached: integration tests build the services themselves (TEST_FLAGS=-race, TEST_TIMEOUT=20m)
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) $(TEST_FLAGS) ./...

test-sdk: ## the tests of sdk/python and sdk/js, where they exist
	scripts/test-sdks

bench: clickhouse ## rtt beside raw JetStream and ClickHouse (~6 min): table, .data/bench/latest.json, docs/performance.md
	$(GO) run ./cmd/rtt-bench

fmt: ## gofmt every Go package
	$(GO) fmt ./...

vet: ## go vet ./...
	$(GO) vet ./...

clean: ## remove bin/ (the data in .data/ stays: rm -rf .data drops it)
	rm -rf $(BIN)
