# Thin wrapper over CMake: installs missing Debian packages, builds, runs or tests.
#
#   make run      build and serve on $(LISTEN) in the foreground
#   make test     every quality gate: each libFuzzer target for
#                 $(FUZZ_TEST_SECONDS) seconds (fuzz-run), the suites built with
#                 ASan+UBSan (test-asan), then every suite with barrierd also
#                 under valgrind (test-suites)
#   WERROR=ON     warnings are errors (.ci/run sets it)
#   make fuzz     the fuzzers for $(FUZZ_SECONDS) seconds each
#   make bench    barrier-bench: barrierd against the kernel floor
#   make bench-scale  barrier-bench-scale: one barrier of 1,000, 10,000 and 100,000
#                 parties over shared connections ($(SCALE_ARGS))
#   make soak     1,000 connections x 1,000 rounds
BUILD       ?= build
ASAN_BUILD  ?= build-asan
FUZZ_BUILD  ?= build-fuzz
LISTEN      ?= 127.0.0.1:7411
JOBS        ?= $(shell nproc 2>/dev/null || echo 2)
WERROR      ?= OFF
FUZZ_SECONDS      ?= 300
FUZZ_TEST_SECONDS ?= 30
FUZZ_TARGETS := frame request fastwait
PACKAGES := cmake gcc make pkg-config libuv1-dev libcjson-dev libcurl4-openssl-dev libssl-dev openssl \
            check netcat-openbsd valgrind clang libclang-rt-14-dev iproute2 etcd-server \
            scdoc libsystemd-dev systemd \
            python3 python3-venv python3-pip python3-pytest libpython3.11-testsuite \
            libmicrohttpd-dev liburing-dev prometheus chromium chromium-driver
SHELL := /bin/bash
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps build run test test-suites test-asan fuzz fuzz-build fuzz-run bench bench-scale soak clean

all: build

# Install only what dpkg reports missing, so repeated runs are quick and offline.
deps:
	@missing=""; for p in $(PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBARRIERD_VALGRIND_TESTS=ON \
	  -DBARRIERD_WERROR=$(WERROR)
	cmake --build $(BUILD) -j $(JOBS)

run: build
	./$(BUILD)/server/barrierd --listen $(LISTEN)

# Quickest gate first; the main suite last, so its summary closes the output.
test: fuzz-run test-asan test-suites

# Every suite (unit, integration, client, faults, fuzz replay, smoke runs of the
# bench and soak), and the integration cases again with barrierd under valgrind.
test-suites: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The same suites in an ASan+UBSan build (valgrind cannot run under ASan).
test-asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DBARRIERD_SANITIZE=ON \
	  -DBARRIERD_WERROR=$(WERROR)
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && BARRIERD_SLOW=1 ctest --output-on-failure -j $(JOBS)

fuzz-build: deps
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DBARRIERD_FUZZ=ON -DBARRIERD_TESTS=ON \
	  -DBARRIERD_WERROR=$(WERROR)
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target $(addprefix fuzz_,$(FUZZ_TARGETS))

# Each fuzzer starts from the seeds in tests/fuzz/corpus/ (where every crash it
# finds should be added as a regression input) and grows a corpus of its own.
fuzz-run: fuzz-build
	@set -o pipefail; for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_BUILD)/corpus-$$t; \
	  echo "fuzz_$$t: $(or $(SECONDS_OVERRIDE),$(FUZZ_TEST_SECONDS)) s"; \
	  ./$(FUZZ_BUILD)/tests/fuzz/fuzz_$$t -max_total_time=$(or $(SECONDS_OVERRIDE),$(FUZZ_TEST_SECONDS)) \
	    -max_len=8192 -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/ \
	    $(FUZZ_BUILD)/corpus-$$t tests/fuzz/corpus/$$t 2>&1 \
	    | grep -E "^(stat::number_of_executed_units|Done|==|SUMMARY)|ERROR|deadly" || exit 1; \
	done

fuzz:
	$(MAKE) fuzz-run SECONDS_OVERRIDE=$(FUZZ_SECONDS)

bench: build
	tests/bench/run-bench.sh $(BUILD) $(BENCH_ARGS)

bench-scale: build
	BARRIERD=./$(BUILD)/server/barrierd ./$(BUILD)/tests/bench/barrier-bench-scale $(SCALE_ARGS)

soak: build
	BARRIERD=./$(BUILD)/server/barrierd ./$(BUILD)/tests/soak/barrier-soak $(SOAK_ARGS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
