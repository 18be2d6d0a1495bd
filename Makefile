# runwasm: the two commands of the README are `make demo` and `make test`.
CARGO ?= cargo
FIXTURES ?= $(CURDIR)/target/fixtures
RUNWASM := $(CURDIR)/target/release/runwasm

.PHONY: all deps build fixtures unit lint e2e test demo bench stress clean

all: build

deps:
	scripts/install-deps.sh

build:
	$(CARGO) build --release --workspace

fixtures: build
	RUNWASM=$(RUNWASM) scripts/build-fixtures.sh $(FIXTURES)

# unit tests share the release profile with the binaries: one build, no debug copy
unit:
	$(CARGO) test --release --workspace

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings

e2e: build fixtures
	RUNWASM=$(RUNWASM) FIXTURES=$(FIXTURES) test/e2e/run-all.sh

test: deps build fixtures unit e2e

demo: deps build fixtures
	RUNWASM=$(RUNWASM) FIXTURES=$(FIXTURES) scripts/demo.sh

# benchmarks (docs/benchmarks.md): the shim, runwasm via the runc shim, runc + busybox, and
# a wasi:http component under wrk against a native server (ONLY=http scripts/bench.py alone)
bench: deps build fixtures
	RUNWASM=$(RUNWASM) FIXTURES=$(FIXTURES) scripts/bench.py

# fuzzing (docs/fuzzing.md): installs cargo-fuzz if missing, builds the targets in fuzz/ once,
# runs each for FUZZ_SECONDS (CI's e2e suite `fuzz` runs 30 s each) and fails on a crash
FUZZ_SECONDS ?= 300
.PHONY: fuzz
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh

# reliability (docs/reliability.md and its plot): soak, load, chaos and resource faults at full
# size, about 1.5 hours; a part alone: scripts/stress.py soak|load|chaos|faults; CI runs the
# short sizes (test/e2e/stress.sh)
stress: deps build fixtures
	RUNWASM=$(RUNWASM) FIXTURES=$(FIXTURES) scripts/stress.py --report

clean:
	$(CARGO) clean
	rm -rf test/wasm/target
