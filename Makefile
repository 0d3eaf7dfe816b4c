# ssegate — run `make help` for the targets.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

GO        ?= go
TOOL      := $(GO) tool -modfile=tools/go.mod
BUF       := $(TOOL) buf
# google/api/*.proto come from this module in the Go module cache, never from git.
GOOGLEAPIS_MOD := github.com/grpc-ecosystem/grpc-gateway@v1.16.0
GOOGLEAPIS_DIR := .cache/googleapis
BENCH_TIME ?= 2s
# Extra flags for `ssebench run` in make bench, e.g. SSEBENCH_FLAGS="-runs 3 -scenarios 1,3".
SSEBENCH_FLAGS ?=
# The descriptor set of proto/, with comments, that the demo's gateway loads.
DESCRIPTOR_SET_DIR := gen/descriptorset
# The npm package whose OpenAPI schema validator gateway/openapi's tests run.
OPENAPI_VALIDATOR := gateway/openapi/testdata/validator

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: protodeps
protodeps: ## copy google/api protos from the Go module cache into .cache/
	@dir=$$($(GO) mod download -json $(GOOGLEAPIS_MOD) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p'); \
	  test -n "$$dir" || { echo "cannot download $(GOOGLEAPIS_MOD)" >&2; exit 1; }; \
	  rm -rf $(GOOGLEAPIS_DIR); mkdir -p $(GOOGLEAPIS_DIR)/google/api; \
	  cp $$dir/third_party/googleapis/google/api/{annotations,http,httpbody}.proto $(GOOGLEAPIS_DIR)/google/api/; \
	  chmod -R u+w $(GOOGLEAPIS_DIR)

.PHONY: generate
generate: protodeps ## regenerate gen/ from proto/
	$(BUF) generate
	mkdir -p $(DESCRIPTOR_SET_DIR)
	$(BUF) build --exclude-imports -o $(DESCRIPTOR_SET_DIR)/ssegate.binpb
	$(GO) run ./internal/cmd/gendescriptorset -dir $(DESCRIPTOR_SET_DIR)
	$(GO) generate ./gateway/rest/

.PHONY: check-generate
check-generate: generate ## fail if gen/ (or a test's generated code) differs from what make generate writes
	@if [ -n "$$(git status --porcelain -- gen gateway/rest/internal)" ]; then \
	  echo "generated code is out of date; run make generate and commit:" >&2; git status --porcelain -- gen gateway/rest/internal >&2; exit 1; fi

.PHONY: lint
lint: protodeps ## go vet, buf lint and buf format
	$(GO) vet ./...
	$(BUF) lint
	$(BUF) format --diff --exit-code proto

.PHONY: build
build: ## build every binary into bin/
	$(GO) build -o bin/ ./cmd/...

.PHONY: npmdeps
npmdeps: $(OPENAPI_VALIDATOR)/node_modules/.package-lock.json ## install the npm packages the tests use

$(OPENAPI_VALIDATOR)/node_modules/.package-lock.json: $(OPENAPI_VALIDATOR)/package-lock.json
	npm ci --prefix $(OPENAPI_VALIDATOR) --no-audit --no-fund

.PHONY: testdeps
testdeps: ## install what the tests need besides Go (as root, from Debian), or name it and stop
	@scripts/testdeps
	@$(MAKE) npmdeps

.PHONY: test
test: testdeps ## run every test, with the race detector
	$(GO) test -race -count=1 -timeout 15m ./...

.PHONY: run
run: ## start the whole demo on http://127.0.0.1:8080
	$(GO) run ./cmd/ssegate-demo

.PHONY: bench
bench: ## run the benchmarks, then ssebench's scenarios (table on stdout, JSON in bench-results.json)
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCH_TIME) ./...
	$(GO) build -o bin/ssebench ./cmd/ssebench
	bin/ssebench run -out bench-results.json $(SSEBENCH_FLAGS)
