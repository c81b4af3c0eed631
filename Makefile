# Front door for newcomers and CI. CMake does the real work in build/.
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= 2
LISTEN ?= 127.0.0.1:7600
DATA_DIR ?= ./var/kmsd

.PHONY: all deps configure build run test unit-test integration-test bench package clean \
	fuzz fuzz-smoke sanitize cluster

all: build

deps:
	@scripts/install-deps

configure: deps
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) >/dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j$(JOBS)

run: build
	@mkdir -p $(DATA_DIR)
	$(BUILD_DIR)/kmsd serve --listen $(LISTEN) --data-dir $(DATA_DIR)

test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS)

unit-test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS) -L unit

integration-test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS) -L integration

# Load benchmark (bench/run_bench.sh): Release build, a fresh kmsd, moto_server beside it; writes
# the table into docs/BENCHMARKS.md. Figures, never assertions. Takes a few minutes.
bench: deps
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD_DIR) -j$(JOBS) --target kmsd kms_load
	bench/run_bench.sh $(BUILD_DIR)

# The Debian package (packaging/, docs/PACKAGING.md): $(BUILD_DIR)/kmsd_VERSION-1_ARCH.deb.
package: configure
	@cmake --build $(BUILD_DIR) -j$(JOBS) --target kmsd kms man-pages console
	@cd $(BUILD_DIR) && cpack -G DEB

# Fuzzing (fuzz/README.md, docs/SECURITY.md "Fuzzing"): the libFuzzer targets, built with clang in
# build-fuzz under ASan and UBSan, each run FUZZ_SECONDS, two at a time. `make test` runs the
# smoke (10 s each) as the ctest fuzz.smoke.
FUZZ_SECONDS ?= 300
fuzz: deps
	scripts/fuzz --seconds $(FUZZ_SECONDS) --jobs $(JOBS)

fuzz-smoke: deps
	scripts/fuzz --seconds 10 --jobs $(JOBS)

# The unit tests under ASan + UBSan (build-asan) and the threaded ones under TSan (build-tsan).
sanitize: deps
	JOBS=$(JOBS) scripts/sanitize

# Three etcd members and three kmsd nodes on loopback (docs/HA.md); prints the endpoints and
# credentials, runs until Ctrl-C. Its data: ./var/cluster, emptied at each start.
cluster: build
	scripts/cluster --kmsd $(BUILD_DIR)/kmsd --dir ./var/cluster

clean:
	rm -rf $(BUILD_DIR) build-fuzz build-asan build-tsan
