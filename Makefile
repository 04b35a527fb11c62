# kernelbox: `make` builds build/kernelboxd; `make run` starts it; `make test` runs every test.
# The commands install what is missing (Debian packages, the kernel image) on the way.

BUILD ?= build
IMAGE ?= kernelbox/kernel:latest
CMAKE_FLAGS ?=
LISTEN ?= 127.0.0.1:8080
RUNTIME_DIR ?= /run/kernelbox
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: all build deps image run test unit e2e clean

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

unit: build
	@cd $(BUILD) && ctest --output-on-failure

e2e: build image
	@$(SUDO) env KERNELBOX_BUILD=$(abspath $(BUILD)) KERNELBOX_IMAGE=$(IMAGE) \
		/usr/bin/python3 -m pytest -q -p no:cacheprovider tests/e2e

test: deps
	@$(MAKE) --no-print-directory build CMAKE_FLAGS="$(CMAKE_FLAGS) -DKERNELBOX_WERROR=ON"
	@$(MAKE) --no-print-directory unit image e2e

clean:
	rm -rf $(BUILD)
