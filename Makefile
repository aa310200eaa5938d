# The project's entry points. `make test` is the test command CI runs; `make demo` is the main job.
SWIFT ?= swift
RELEASE = -c release
TESTFLAGS = -c release -Xswiftc -enable-testing
SAC = .build/release/sac

.PHONY: build test model demo chat bench bench-gemm bench-model bench-train bench-serve

build:
	$(SWIFT) build $(RELEASE)

# Tests are built optimised: the numeric checks are slow in a debug build.
test:
	$(SWIFT) test $(TESTFLAGS)

# Downloads the default model (SmolLM2-135M-Instruct, Q4_1 GGUF) into $$SAC_HOME (default ~/.cache/sac).
model:
	bash scripts/fetch_model.sh

# The main job: fetch the default model if needed, build, compress the bundled document with the
# shipped SAC adapter (adapters/sac-smollm2-5x) and answer the bundled questions from the 5x memory
# and, for comparison, from the full context.
demo: model build
	$(SAC) demo

# The chat demo: the plain model answering one prompt.
chat: model build
	$(SAC) generate --chat --prompt "In one sentence, what is a lighthouse for?" --max-tokens 48

bench: bench-gemm bench-model bench-train

bench-gemm: build
	python3 scripts/bench_gemm.py

bench-model: model build
	python3 scripts/bench_model.py

bench-train: model build
	python3 scripts/bench_train.py

# The HTTP service: compress latency, answers from stored 5x/15x memories against the full
# context, throughput with 1/4/16 clients (starts `sac serve` with untrained adapters).
bench-serve: model build
	python3 scripts/bench_serve.py
