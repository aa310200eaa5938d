# The project's entry points. `make test` is the test command CI runs.
SWIFT ?= swift
RELEASE = -c release
TESTFLAGS = -c release -Xswiftc -enable-testing

.PHONY: build test bench

build:
	$(SWIFT) build $(RELEASE)

# Tests are built optimised: the numeric checks are slow in a debug build.
test:
	$(SWIFT) test $(TESTFLAGS)

bench: build
	python3 scripts/bench_gemm.py
