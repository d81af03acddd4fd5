# courier: the everyday commands. `make test` is what CI runs (after starting the brokers).
GO ?= go

.PHONY: test lint bench quickstart ci

test: ## run every test of every module (go.work), with the race detector
	$(GO) test -race work

lint: ## go vet and staticcheck
	$(GO) vet work
	@command -v staticcheck >/dev/null || $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2
	PATH="$$PATH:$$($(GO) env GOPATH)/bin" staticcheck work

bench: ## benchmarks (brokers from the COURIER_* variables; Kafka and Pulsar in process)
	$(GO) test -run '^$$' -bench . -benchmem work

quickstart: ## the quickstart example on the embedded broker
	$(GO) run ./examples/quickstart

ci: ## what CI runs: start the local brokers, lint, test with COURIER_REQUIRE_BROKERS=1
	bash .ci/run
