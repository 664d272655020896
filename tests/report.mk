# report.mk - the programs with known truth that tests/report-tests.sh reports on, and
# an analyzer built with AddressSanitizer and UBSan for its bad input tests. Included by
# the top-level Makefile, which defines BUILD, CC and `all`.
#
#   make test-report                   build them, then run tests/report-tests.sh
#   make test-report TEST_REPORT_ARGS='c_leaks bad_*'    only the named tests
#   make test-report-progs             only build them, into $(BUILD)/tests/progs/
#
# The runner needs, in its environment: HEAPSPAN=$(BUILD)/heapspan,
# SHIM=$(BUILD)/libheapspan.so, PROGS=$(BUILD)/tests/progs, PYTHON (the real
# interpreter, not a pyenv shim) and HEAPSPAN_ASAN=$(TEST_REPORT_ASAN); test-report
# below passes them. Only names starting with test-report/TEST_REPORT_ are defined here.

# Included before the first rule of the top-level Makefile, our first target would become
# the default goal; put back whatever was chosen before us.
TEST_REPORT_SAVED_GOAL := $(.DEFAULT_GOAL)

BUILD ?= build
CXX ?= g++
TEST_REPORT_DIR := $(BUILD)/tests/progs
TEST_REPORT_SRC := tests/progs

# Fixed flags, not the user's CFLAGS: the tests check exact counts, lines and inlining,
# and what gcc may delete, merge or inline (bench/workloads/common.h) must not change
# with them. -O2 on purpose: the C++ test is about a frame inlined at -O2.
TEST_REPORT_CFLAGS := -std=gnu11 -O2 -g -fno-omit-frame-pointer -D_GNU_SOURCE -Wall -Wextra \
                      -pthread
TEST_REPORT_CXXFLAGS := -std=gnu++17 -O2 -g -fno-omit-frame-pointer -D_GNU_SOURCE -Wall \
                        -Wextra -pthread
# Plain rustc, no cargo and no crates. The default symbol mangling is `legacy` for a
# user crate (`-C symbol-mangling-version=legacy` itself is unstable); known_rust_v0
# is the same program with v0 mangling. The runner checks which one it got.
TEST_REPORT_RUSTFLAGS := -g -C opt-level=0
TEST_REPORT_RUSTC ?= rustc

# python3 may be a pyenv shim: the extension must be built against the headers of the
# interpreter that will load it. Resolved on first use only.
TEST_REPORT_PYTHON ?= $(eval TEST_REPORT_PYTHON := $$(shell python3 -c 'import sys; print(sys.executable)' 2>/dev/null))$(TEST_REPORT_PYTHON)

TEST_REPORT_C_NAMES := known_c known_peak known_temp known_phases known_sampled
TEST_REPORT_C := $(addprefix $(TEST_REPORT_DIR)/,$(TEST_REPORT_C_NAMES))
TEST_REPORT_CXX := $(TEST_REPORT_DIR)/known_cxx $(TEST_REPORT_DIR)/known_sampled_cxx
TEST_REPORT_RUST := $(TEST_REPORT_DIR)/known_rust $(TEST_REPORT_DIR)/known_rust_v0
TEST_REPORT_PYEXT := $(TEST_REPORT_DIR)/known_pyext.so $(TEST_REPORT_DIR)/known_pyext.py
TEST_REPORT_RETAIN := $(TEST_REPORT_DIR)/bench_retain
TEST_REPORT_PROGS := $(TEST_REPORT_C) $(TEST_REPORT_CXX) $(TEST_REPORT_RUST) \
                     $(TEST_REPORT_PYEXT) $(TEST_REPORT_RETAIN)

# The analyzer again, with sanitizers, from the same sources as $(BUILD)/heapspan: a
# separate binary, so that the normal build stays as it is. Never preloaded with the
# shim: only `heapspan report` runs from it.
TEST_REPORT_ASAN := $(BUILD)/tests/report-asan/heapspan
TEST_REPORT_ASAN_SRCS = $(HEAPSPAN_SRCS)
TEST_REPORT_ASAN_FLAGS := -std=gnu11 -O1 -g -fno-omit-frame-pointer -D_GNU_SOURCE -I. \
                          -fsanitize=address,undefined
TEST_REPORT_ASAN_LIBS := -ldw -lelf -liberty -lzstd -lz -lm -ldl -pthread

TEST_REPORT_ARGS ?=
TEST_REPORT_V := $(filter 1,$(V))
TEST_REPORT_Q := $(if $(TEST_REPORT_V),,@)

test-report-progs: $(TEST_REPORT_PROGS) $(TEST_REPORT_ASAN)

$(TEST_REPORT_C): $(TEST_REPORT_DIR)/%: $(TEST_REPORT_SRC)/%.c | $(TEST_REPORT_DIR)/.dir
	@$(if $(TEST_REPORT_V),,echo "  CC      $@")
	$(TEST_REPORT_Q)$(CC) $(TEST_REPORT_CFLAGS) -o $@ $<

$(TEST_REPORT_CXX): $(TEST_REPORT_DIR)/%: $(TEST_REPORT_SRC)/%.cc | $(TEST_REPORT_DIR)/.dir
	@$(if $(TEST_REPORT_V),,echo "  CXX     $@")
	$(TEST_REPORT_Q)$(CXX) $(TEST_REPORT_CXXFLAGS) -o $@ $<

# rustc comes from Debian's package when the machine has none (as root, like the
# top-level Makefile's other dependencies).
$(TEST_REPORT_DIR)/.rustc-ok: | $(TEST_REPORT_DIR)/.dir
	$(TEST_REPORT_Q)if ! command -v $(TEST_REPORT_RUSTC) >/dev/null 2>&1; then \
		echo "installing Debian package: rustc"; \
		if [ "$$(id -u)" != 0 ]; then \
			echo "error: no rustc; run as root, or apt-get install rustc" >&2; exit 2; fi; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rustc \
			>/dev/null || exit 2; \
	fi
	$(TEST_REPORT_Q)touch $@

# Both built from known_rust.rs under the crate name known_rust, so that the expected
# function name is the same.
$(TEST_REPORT_DIR)/known_rust: $(TEST_REPORT_SRC)/known_rust.rs $(TEST_REPORT_DIR)/.rustc-ok
	@$(if $(TEST_REPORT_V),,echo "  RUSTC   $@")
	$(TEST_REPORT_Q)$(TEST_REPORT_RUSTC) $(TEST_REPORT_RUSTFLAGS) --crate-name known_rust \
		-o $@ $<

$(TEST_REPORT_DIR)/known_rust_v0: $(TEST_REPORT_SRC)/known_rust.rs $(TEST_REPORT_DIR)/.rustc-ok
	@$(if $(TEST_REPORT_V),,echo "  RUSTC   $@")
	$(TEST_REPORT_Q)$(TEST_REPORT_RUSTC) $(TEST_REPORT_RUSTFLAGS) -C symbol-mangling-version=v0 \
		--crate-name known_rust -o $@ $<

# CPython also imports a plain "known_pyext.so". The driver imports it from its own
# directory, hence the copy beside it.
$(TEST_REPORT_DIR)/known_pyext.so: $(TEST_REPORT_SRC)/known_pyext.c | $(TEST_REPORT_DIR)/.dir
	@$(if $(TEST_REPORT_V),,echo "  CC      $@")
	$(TEST_REPORT_Q)inc=$$('$(TEST_REPORT_PYTHON)' -c 'import sysconfig; print(sysconfig.get_paths()["include"])' 2>/dev/null); \
	if [ -z "$$inc" ] || [ ! -f "$$inc/Python.h" ]; then \
		echo "error: no Python.h for '$(TEST_REPORT_PYTHON)' (apt-get install python3-dev, or the headers of that interpreter)" >&2; \
		exit 2; \
	fi; \
	$(CC) $(TEST_REPORT_CFLAGS) -fPIC -shared -I"$$inc" -o $@ $<

$(TEST_REPORT_DIR)/known_pyext.py: $(TEST_REPORT_SRC)/known_pyext.py | $(TEST_REPORT_DIR)/.dir
	$(TEST_REPORT_Q)cp $< $@

# The retain workload, as the benchmark builds it (bench/bench.mk's flags), but here.
$(TEST_REPORT_RETAIN): bench/workloads/retain.c bench/workloads/common.h | $(TEST_REPORT_DIR)/.dir
	@$(if $(TEST_REPORT_V),,echo "  CC      $@")
	$(TEST_REPORT_Q)$(CC) $(TEST_REPORT_CFLAGS) -o $@ $<

$(TEST_REPORT_ASAN): $(TEST_REPORT_ASAN_SRCS) $(wildcard format/*.h analyzer/*.h util/*.h viz/*.h cli/*.h)
	@mkdir -p $(dir $@)
	@$(if $(TEST_REPORT_V),,echo "  CC      $@ (address,undefined)")
	$(TEST_REPORT_Q)$(CC) $(TEST_REPORT_ASAN_FLAGS) -o $@ $(TEST_REPORT_ASAN_SRCS) \
		$(TEST_REPORT_ASAN_LIBS)

$(TEST_REPORT_DIR)/.dir:
	$(TEST_REPORT_Q)mkdir -p $(dir $@) && touch $@

test-report: all $(TEST_REPORT_PROGS) $(TEST_REPORT_ASAN)
	$(TEST_REPORT_Q)HEAPSPAN='$(BUILD)/heapspan' SHIM='$(BUILD)/libheapspan.so' \
		PROGS='$(TEST_REPORT_DIR)' PYTHON='$(TEST_REPORT_PYTHON)' \
		HEAPSPAN_ASAN='$(TEST_REPORT_ASAN)' tests/report-tests.sh $(TEST_REPORT_ARGS)

.PHONY: test-report test-report-progs

.DEFAULT_GOAL := $(TEST_REPORT_SAVED_GOAL)
