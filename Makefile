# ringex build, run and test targets. Only Go is needed on the machine:
# modules come from the Go module proxy on first use.
GO      ?= go
PKGS    := ./...
BIN     := bin

.PHONY: all build run test vet soak bench fmt clean

all: build

build:
	$(GO) build -o $(BIN)/ $(PKGS)

# run starts the exchange with its embedded default configuration.
run: build
	./$(BIN)/ringexd

vet:
	$(GO) vet $(PKGS)
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || (gofmt -l . ; echo 'gofmt needed'; exit 1)

# ALLOC_TESTS check allocation counts and heap sizes, which the race
# detector's instrumentation changes: they skip themselves under -race.
ALLOC_TESTS := Allocs|TestSessionDirectAckWrite|TestEventMark|TestNotifierSlowSubscriberMemory

# test is what CI runs: vet, every test under the race detector, then the
# allocation contracts without it (a short step).
test: vet
	$(GO) test -race -count=1 -timeout 15m $(PKGS)
	$(GO) test -count=1 -timeout 5m -run '$(ALLOC_TESTS)' $(PKGS)

# soak runs the long randomized, crash and load tests (-short=false paths),
# among them 10,000 market-data subscribers of a real ringexd
# (cmd/ringex-load TestFanoutSoak) and 10,000 of every kind with 1,000
# connects/s of churn for 30 s (TestFanoutMixSoak); as many as the
# descriptor limit allows (README: descriptor limits).
soak:
	RINGEX_SOAK=1 $(GO) test -race -count=1 -timeout 60m $(PKGS)

# bench runs the micro-benchmarks, ringexd against the echo floor (the
# ratios that head the report) and end-to-end load runs, and writes
# docs/performance.md (docs/bench.md explains it).
bench: build
	./perf/bench.sh

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf $(BIN)
