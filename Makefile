# kernelbox: `make` builds build/kernelboxd; `make run` starts it; `make test` runs every test;
# `make bench` measures it (QUICK=1 for a short run).
# `make lint` runs clang-tidy and cppcheck; `make fuzz` runs each libFuzzer driver for
# FUZZ_SECONDS; `make asan-test` runs the unit and e2e suites against an ASan+UBSan build.
# The commands install what is missing (Debian packages, the kernel image) on the way.

BUILD ?= build
IMAGE ?= kernelbox/kernel:latest
CMAKE_FLAGS ?=
LISTEN ?= 127.0.0.1:8080
RUNTIME_DIR ?= /run/kernelbox
QUICK ?=
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
LINT_BUILD ?= build-lint
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
ASAN_BUILD ?= build-asan
# Environment for the unit and e2e runs (asan-test sets the sanitizers' options here).
SAN_ENV ?=
# Leaks are checked at exit; any ASan error stops the process, and UBSan (built with
# -fno-sanitize-recover) aborts on the first report, so a test cannot pass over one.
ASAN_TEST_ENV := ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=1:strict_string_checks=1:print_summary=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

.PHONY: all build deps image run test unit e2e bench clean lint fuzz fuzz-build fuzz-smoke \
	asan-test

all: build

build:
	@scripts/deps.sh build
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j$$(nproc)

deps:
	@scripts/deps.sh test

image:
	@scripts/deps.sh run
	@$(SUDO) kernel-image/build.sh $(IMAGE)

# Start kernelboxd in the foreground on $(LISTEN). With no KERNELBOX_API_KEY in the
# environment it generates a key and prints it once.
run: build image
	@$(SUDO) env KERNELBOX_LISTEN=$(LISTEN) KERNELBOX_RUNTIME_DIR=$(RUNTIME_DIR) \
		KERNELBOX_IMAGE=$(IMAGE) $${KERNELBOX_API_KEY:+KERNELBOX_API_KEY=$$KERNELBOX_API_KEY} \
		$(BUILD)/kernelboxd

unit: deps build
	@cd $(BUILD) && env $(SAN_ENV) ctest --output-on-failure
	@/usr/bin/python3 -m pytest -q -p no:cacheprovider tests/image

e2e: build image
	@$(SUDO) env KERNELBOX_BUILD=$(abspath $(BUILD)) KERNELBOX_IMAGE=$(IMAGE) $(SAN_ENV) \
		/usr/bin/python3 -m pytest -q -rs -p no:cacheprovider tests/e2e

test: deps
	@$(MAKE) --no-print-directory build CMAKE_FLAGS="$(CMAKE_FLAGS) -DKERNELBOX_WERROR=ON"
	@$(MAKE) --no-print-directory lint unit image fuzz-smoke e2e

# clang-tidy (.clang-tidy) and cppcheck (.cppcheck-suppressions) over orchestrator/ and
# seccomp/, with the compile flags of a clang build directory; any finding fails.
lint:
	@scripts/deps.sh dev
	@cmake -S . -B $(LINT_BUILD) -DCMAKE_C_COMPILER=clang -DKERNELBOX_BUILD_TESTS=OFF >/dev/null
	@scripts/lint.sh $(LINT_BUILD)

# The libFuzzer drivers of tests/fuzz, built with clang, ASan and UBSan in $(FUZZ_BUILD).
fuzz-build:
	@scripts/deps.sh dev
	@cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DKERNELBOX_FUZZ=ON \
		-DKERNELBOX_BUILD_TESTS=OFF >/dev/null
	@cmake --build $(FUZZ_BUILD) --target fuzzers -j$$(nproc)

# Each driver for FUZZ_SECONDS on its seeds; new inputs stay in $(FUZZ_BUILD)/fuzz/corpus.
fuzz: fuzz-build
	@scripts/fuzz.sh $(FUZZ_BUILD) run $(FUZZ_SECONDS)

# A few seconds of each driver over its seeds (the regressions among them), for make test.
fuzz-smoke: fuzz-build
	@scripts/fuzz.sh $(FUZZ_BUILD) smoke

# The unit and e2e suites against kernelboxd built with ASan+UBSan in $(ASAN_BUILD); a
# sanitizer report on any daemon's stderr fails the test that started it.
asan-test: deps
	@$(MAKE) --no-print-directory build BUILD=$(ASAN_BUILD) \
		CMAKE_FLAGS="$(CMAKE_FLAGS) -DKERNELBOX_SANITIZE=ON -DKERNELBOX_WERROR=OFF \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo"
	@$(MAKE) --no-print-directory unit image e2e BUILD=$(ASAN_BUILD) SAN_ENV="$(ASAN_TEST_ENV)"

# Latency, throughput and memory of kernelboxd against kernels driven straight over ZeroMQ.
# Prints a table, then the JSON report (also in $(BUILD)/bench.json). QUICK=1: under 2 minutes.
bench: build image
	@$(SUDO) env QUICK=$(QUICK) $(BUILD)/tests/bench/kernelbox-bench \
		--daemon $(BUILD)/kernelboxd --image $(IMAGE) --json $(BUILD)/bench.json

clean:
	rm -rf $(BUILD)
