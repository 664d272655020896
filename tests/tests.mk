# tests.mk - the integration test programs and `make test`. Included by the top-level
# Makefile, which defines BUILD, CC, Q and `all`.
#
#   make test                          unit tests (TEST_UNIT_BINS), then the runners
#                                      (TEST_RUNNERS), then the make targets in TEST_CHECKS;
#                                      the last line is "N passed, N failed" over all
#   make test TEST_ARGS='fork exec'    only the named integration tests
#   make test-progs                    only build the programs, into $(BUILD)/tests/progs/
#   make stress                        the stress suite in full (tests/stress.sh --full: a
#                                      few minutes); `make test` runs its quick form
#
# Only names starting with test/TEST_ are defined here, so as not to clash with the
# including Makefile.

# Included before the first rule of the top-level Makefile, our first target would become
# the default goal; put back whatever was chosen before us.
TEST_SAVED_GOAL := $(.DEFAULT_GOAL)

BUILD ?= build
CXX ?= g++
TEST_PROGS_DIR := $(BUILD)/tests/progs
TEST_SRC := tests/progs

# Fixed flags, not the user's CFLAGS: the tests count allocations, and what the compiler
# may delete or merge (bench/workloads/common.h) must not change with them.
# Frame pointers and -g: leaks are attributed by return address and addr2line.
TEST_CFLAGS := -std=gnu11 -O2 -g -fno-omit-frame-pointer -D_GNU_SOURCE -Wall -Wextra -pthread
TEST_CXXFLAGS := -std=gnu++17 -O2 -g -fno-omit-frame-pointer -D_GNU_SOURCE -Wall -Wextra \
                 -pthread

# Programs from tests/progs/NAME.c (or .cc) to $(BUILD)/tests/progs/NAME. The sym_*
# sources there belong to the symbolizer's unit tests and are built by their own rules.
TEST_C_NAMES := allocs threads forks fork_busy exec_a exec_b dl_main killme endings sighandler \
                fdclose fdraw fewfds proctitle regrow livezero manythreads \
                sampled marker fullout demo_service
TEST_CXX_NAMES := cxx_ops je_preload
TEST_C_PROGS := $(addprefix $(TEST_PROGS_DIR)/,$(TEST_C_NAMES))
TEST_CXX_PROGS := $(addprefix $(TEST_PROGS_DIR)/,$(TEST_CXX_NAMES))
TEST_JE_PROG := $(TEST_PROGS_DIR)/je_direct
TEST_DL_LIB := $(TEST_PROGS_DIR)/libhsdl.so
TEST_PYEXT := $(TEST_PROGS_DIR)/hsext.so
# The stress suite's programs, from tests/stress/NAME.c to $(BUILD)/tests/stress/NAME.
TEST_STRESS_DIR := $(BUILD)/tests/stress
TEST_STRESS_NAMES := xfree handoff forkstorm dlloop execchain endstress
TEST_STRESS_PROGS := $(addprefix $(TEST_STRESS_DIR)/,$(TEST_STRESS_NAMES))
TEST_ALL_PROGS := $(TEST_C_PROGS) $(TEST_CXX_PROGS) $(TEST_JE_PROG) $(TEST_DL_LIB) $(TEST_PYEXT) \
                  $(TEST_PROGS_DIR)/manythreads_nofp $(TEST_STRESS_PROGS)

# Unit test binaries (cmocka), run before the integration tests when non-empty. Each is
# run from the top directory with TEST_UNIT_ARGS, then TEST_UNIT_ARGS_<name> (or
# TEST_ARGS_<name>), <name> being the binary's file name; its "[  PASSED  ] N test(s)."
# and "[  FAILED  ] N test(s)" lines are added up. A binary that fails without counting
# a failed test (it crashed, or rejected its arguments) counts as one failure. Set
# TEST_UNIT_BINS before this file is included: `test` lists them as prerequisites.
TEST_UNIT_BINS ?=
TEST_UNIT_ARGS ?=
# Checks run after the tests (format-check, check-layers), each counted as one test:
# TEST_CHECK_<name> is its command, passed if it exits 0; its output is shown when it
# fails.
TEST_CHECKS ?=
TEST_ARGS ?=

# python3 may be a pyenv shim, a script that execs the real interpreter: the shim must be
# preloaded into the interpreter itself, and the extension built against its headers.
# Resolved on first use only.
TEST_PYTHON ?= $(eval TEST_PYTHON := $$(shell python3 -c 'import sys; print(sys.executable)' 2>/dev/null))$(TEST_PYTHON)

TEST_V := $(filter 1,$(V))
TEST_Q := $(if $(TEST_V),,@)

test-progs: $(TEST_ALL_PROGS)

$(TEST_C_PROGS): $(TEST_PROGS_DIR)/%: $(TEST_SRC)/%.c $(TEST_SRC)/ready.h | $(TEST_PROGS_DIR)
	@$(if $(TEST_V),,echo "  CC      $@")
	$(TEST_Q)$(CC) $(TEST_CFLAGS) -o $@ $< -ldl

# No frame pointers and no unwind tables: the shim's stack walks out of fdclose's
# functions fall back to libunwind's heuristics, which test addresses through its pipe,
# after the program has closed everything (tests/progs/fdclose.c).
$(TEST_PROGS_DIR)/fdclose $(TEST_PROGS_DIR)/fdraw: TEST_CFLAGS += -fomit-frame-pointer \
    -fno-asynchronous-unwind-tables -fno-unwind-tables

# The same program without frame pointers and with its loop counter in memory: the
# shim's stack walks stop at its frames and go on through libunwind's tracer, whose
# per-thread cache is what an idle thread costs there (run-integration.sh manythreads).
TEST_NOFP_PROG := $(TEST_PROGS_DIR)/manythreads_nofp
$(TEST_NOFP_PROG): $(TEST_SRC)/manythreads.c | $(TEST_PROGS_DIR)
	@$(if $(TEST_V),,echo "  CC      $@")
	$(TEST_Q)$(CC) $(TEST_CFLAGS) -fomit-frame-pointer -DHS_COUNTER_IN_MEMORY -o $@ $<

$(TEST_CXX_PROGS): $(TEST_PROGS_DIR)/%: $(TEST_SRC)/%.cc | $(TEST_PROGS_DIR)
	@$(if $(TEST_V),,echo "  CXX     $@")
	$(TEST_Q)$(CXX) $(TEST_CXXFLAGS) -o $@ $<

# Linked against jemalloc, to call its non-standard API (mallocx, rallocx, ...) directly.
$(TEST_JE_PROG): $(TEST_SRC)/je_direct.c | $(TEST_PROGS_DIR)
	@$(if $(TEST_V),,echo "  CC      $@")
	$(TEST_Q)$(CC) $(TEST_CFLAGS) -o $@ $< -ljemalloc

# The library dl_main dlopens, allocates from, and dlcloses. --build-id: the test checks
# that the module map keeps it after the unload.
$(TEST_DL_LIB): $(TEST_SRC)/libhsdl.c | $(TEST_PROGS_DIR)
	@$(if $(TEST_V),,echo "  CC      $@")
	$(TEST_Q)$(CC) $(TEST_CFLAGS) -fPIC -shared -Wl,--build-id -o $@ $<

# CPython imports a plain "hsext.so" too, so the name does not depend on the interpreter.
# Without Python.h this is an error: the pyext test would have nothing to run.
$(TEST_PYEXT): $(TEST_SRC)/hsext.c | $(TEST_PROGS_DIR)
	@$(if $(TEST_V),,echo "  CC      $@")
	$(TEST_Q)inc=$$('$(TEST_PYTHON)' -c 'import sysconfig; print(sysconfig.get_paths()["include"])' 2>/dev/null); \
	if [ -z "$$inc" ] || [ ! -f "$$inc/Python.h" ]; then \
		echo "error: no Python.h for '$(TEST_PYTHON)' (apt-get install python3-dev, or the headers of that interpreter)" >&2; \
		exit 2; \
	fi; \
	$(CC) $(TEST_CFLAGS) -fPIC -shared -I"$$inc" -o $@ $<

$(TEST_STRESS_PROGS): $(TEST_STRESS_DIR)/%: tests/stress/%.c
	@mkdir -p $(dir $@)
	@$(if $(TEST_V),,echo "  CC      $@")
	$(TEST_Q)$(CC) $(TEST_CFLAGS) -o $@ $< -ldl

$(TEST_PROGS_DIR):
	$(TEST_Q)mkdir -p $@

# Runs the unit binaries, then the runners (their output streamed), then the checks, and
# ends with one combined "N passed, N failed" line. A runner that ends without its
# summary line counts as one failure. Exits non-zero if anything failed.
TEST_OUT := $(BUILD)/tests/integration.out

# The runners: each prints `N passed, N failed` last. The report tests need their own
# programs and the sanitized analyzer (tests/report.mk).
TEST_RUNNERS := tests/run-integration.sh tests/stress.sh tests/golden-tests.sh \
                $(if $(TEST_REPORT_PROGS),tests/report-tests.sh) \
                $(if $(TEST_REPORT_PROGS),tests/snapshot-tests.sh) \
                $(if $(TEST_DIFF_PROGS),tests/diff-tests.sh) \
                $(if $(TEST_API_PROGS),tests/api-tests.sh) \
                $(if $(TEST_FLAME_DEPS),tests/flame-tests.sh) tests/python-tests.sh \
                $(if $(TEST_OTLP_DEPS),tests/otlp-tests.sh) tests/check-layers-test.sh

test: all $(TEST_ALL_PROGS) $(TEST_UNIT_BINS) $(TEST_REPORT_PROGS) $(TEST_REPORT_ASAN) \
      $(TEST_DIFF_PROGS) $(TEST_API_PROGS) $(TEST_FLAME_DEPS) $(TEST_OTLP_DEPS) \
      $(TEST_OTLP_PROGS)
	$(TEST_Q)pass=0; fail=0; \
	run_unit() { \
		bin=$$1; shift; \
		out=$$("$$bin" "$$@" 2>&1); rc=$$?; \
		printf '%s\n' "$$out"; \
		p=$$(printf '%s\n' "$$out" | sed -n 's/^\[  PASSED  \] \([0-9][0-9]*\) test(s)\..*/\1/p' | tail -n 1); \
		f=$$(printf '%s\n' "$$out" | sed -n 's/^\[  FAILED  \] \([0-9][0-9]*\) test(s).*/\1/p' | tail -n 1); \
		p=$${p:-0}; f=$${f:-0}; \
		if [ "$$rc" -ne 0 ] && [ "$$f" -eq 0 ]; then \
			echo "FAIL $$bin: exited with status $$rc and no failed tests counted"; f=1; \
		fi; \
		pass=$$((pass + p)); fail=$$((fail + f)); \
	}; \
	run_script() { \
		script=$$1; shift; \
		{ HEAPSPAN='$(BUILD)/heapspan' SHIM='$(BUILD)/libheapspan.so' PROGS='$(TEST_PROGS_DIR)' \
		  CI_PROGS='$(BUILD)/tests/ci' NODE_DIR='$(BUILD)/tests/node' \
		  OTLP_NODE='$(BUILD)/tests/otlp-node' \
		  ARTIFACTS='$(BUILD)/tests/artifacts' \
		  PYTHON='$(TEST_PYTHON)' HEAPSPAN_ASAN='$(TEST_REPORT_ASAN)' "$$script" "$$@"; \
		  echo "$$?" > $(TEST_OUT).rc; } 2>&1 | tee $(TEST_OUT); \
		rc=$$(cat $(TEST_OUT).rc); last=$$(tail -n 1 $(TEST_OUT)); \
		if printf '%s\n' "$$last" | grep -Eq '^[0-9]+ passed, [0-9]+ failed$$'; then \
			p=$${last%% passed*}; f=$${last#* passed, }; f=$${f%% failed}; \
			if [ "$$rc" -ne 0 ] && [ "$$f" -eq 0 ]; then f=1; fi; \
		else \
			echo "FAIL $$script: exited with status $$rc without its summary line"; p=0; f=1; \
		fi; \
		pass=$$((pass + p)); fail=$$((fail + f)); \
	}; \
	run_check() { \
		name=$$1; shift; \
		if out=$$("$$@" 2>&1); then \
			echo "PASS make $$name"; pass=$$((pass + 1)); \
		else \
			printf '%s\n' "$$out" | tail -n 40; \
			echo "FAIL make $$name"; fail=$$((fail + 1)); \
		fi; \
	}; \
	$(foreach b,$(TEST_UNIT_BINS),run_unit '$(b)' $(TEST_UNIT_ARGS) $(TEST_UNIT_ARGS_$(notdir $(b))) $(TEST_ARGS_$(notdir $(b)));) \
	$(foreach r,$(TEST_RUNNERS),run_script '$(r)' $(TEST_ARGS);) \
	$(foreach c,$(TEST_CHECKS),run_check '$(c)' $(TEST_CHECK_$(c));) \
	echo "$$pass passed, $$fail failed"; \
	[ "$$fail" -eq 0 ]

stress: all $(TEST_ALL_PROGS)
	$(TEST_Q)HEAPSPAN='$(BUILD)/heapspan' SHIM='$(BUILD)/libheapspan.so' PROGS='$(TEST_PROGS_DIR)' \
	    STRESS='$(TEST_STRESS_DIR)' tests/stress.sh --full $(TEST_ARGS)

.PHONY: test test-progs stress

.DEFAULT_GOAL := $(TEST_SAVED_GOAL)
