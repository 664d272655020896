# bench.mk - benchmark workloads and `make bench`. Included by the top-level Makefile,
# which defines BUILD, CC and `all`; bench/run also uses it on its own
# (make -f bench/bench.mk bench-build), hence the defaults below.
#
#   make bench                       every workload, size and variant; prints the table
#                                    and writes bench/results/latest.md
#   make bench BENCH_ARGS=--quick    one or two small sizes per workload
#   make bench-build                 only the workloads and runstat, into $(BUILD)/bench/
#   make bench-deps                  apt-get install the peers that are missing
#
# Only names starting with bench/BENCH_ are defined here, so as not to clash with the
# including Makefile.

# Included before the first rule of the top-level Makefile, our first target would
# become the default goal; put back whatever was chosen before us.
BENCH_SAVED_GOAL := $(.DEFAULT_GOAL)

BUILD ?= build
BENCH_DIR := $(BUILD)/bench
BENCH_SRC := bench/workloads

# The benchmark programs are built with fixed flags, not the user's CFLAGS: numbers from
# different runs must come from the same machine code, and -O0 or a sanitizer would
# measure the workload instead of the profiler. Frame pointers keep every profiler's
# stack walk cheap and alike.
BENCH_CFLAGS := -std=gnu11 -O2 -g -fno-omit-frame-pointer -D_GNU_SOURCE -Wall -Wextra
# The C++ workload (cxxmap) with g++ and libstdc++, as a Debian C++ program is built.
BENCH_CXX := g++
BENCH_CXXFLAGS := -std=gnu++17 -O2 -g -fno-omit-frame-pointer -D_GNU_SOURCE -Wall -Wextra

# python3 may be a pyenv shim, a script that execs the real interpreter: a profiler
# preloaded into the shim would trace the wrong process (heaptrack follows only the first
# exec), and the extension must match the interpreter that loads it. Resolved on first
# use only, so that a `make` that builds no benchmark starts no Python.
BENCH_PYTHON ?= $(eval BENCH_PYTHON := $$(shell python3 -c 'import sys; print(sys.executable)' 2>/dev/null))$(BENCH_PYTHON)

BENCH_CPROGS := $(addprefix $(BENCH_DIR)/,churn threads retain deep realloc)
BENCH_SCRIPTS := $(addprefix $(BENCH_DIR)/,pyext_run.py pyjson.py)
BENCH_TOOLS := $(BENCH_DIR)/runstat $(BENCH_DIR)/interpose.so $(BENCH_DIR)/sampler_floor.so

# V=1 shows the commands, as in the top-level Makefile (where V defaults to 0).
BENCH_V := $(filter 1,$(V))
BENCH_Q := $(if $(BENCH_V),,@)

bench-build: $(BENCH_CPROGS) $(BENCH_DIR)/apichurn $(BENCH_DIR)/cxxmap $(BENCH_TOOLS) $(BENCH_SCRIPTS) \
             $(BENCH_DIR)/benchext.so

$(BENCH_CPROGS): $(BENCH_DIR)/%: $(BENCH_SRC)/%.c $(BENCH_SRC)/common.h $(BENCH_SRC)/churn_loop.h \
                 | $(BENCH_DIR)
	@$(if $(BENCH_V),,echo "  CC      $@")
	$(BENCH_Q)$(CC) $(BENCH_CFLAGS) -o $@ $< -pthread

# -I.: include/heapspan.h, from the top directory (bench/run makes with -C there).
$(BENCH_DIR)/apichurn: $(BENCH_SRC)/apichurn.c $(BENCH_SRC)/common.h include/heapspan.h | $(BENCH_DIR)
	@$(if $(BENCH_V),,echo "  CC      $@")
	$(BENCH_Q)$(CC) $(BENCH_CFLAGS) -I. -o $@ $<

$(BENCH_DIR)/cxxmap: $(BENCH_SRC)/cxxmap.cc $(BENCH_SRC)/common.h | $(BENCH_DIR)
	@$(if $(BENCH_V),,echo "  CXX     $@")
	$(BENCH_Q)$(BENCH_CXX) $(BENCH_CXXFLAGS) -o $@ $<

$(BENCH_DIR)/runstat: bench/runstat.c | $(BENCH_DIR)
	@$(if $(BENCH_V),,echo "  CC      $@")
	$(BENCH_Q)$(CC) $(BENCH_CFLAGS) -o $@ $<

# -fno-builtin: gcc would otherwise see malloc calling malloc. -fno-plt: one jump
# through the GOT per call, as in the shim's fast paths.
$(BENCH_DIR)/interpose.so $(BENCH_DIR)/sampler_floor.so: $(BENCH_DIR)/%.so: bench/%.c bench/glibc_alloc.h \
                                                     | $(BENCH_DIR)
	@$(if $(BENCH_V),,echo "  CC      $@")
	$(BENCH_Q)$(CC) $(BENCH_CFLAGS) -fno-builtin -fno-plt -fPIC -shared -o $@ $<

# pyext_run.py imports benchext from its own directory.
$(BENCH_SCRIPTS): $(BENCH_DIR)/%: $(BENCH_SRC)/% | $(BENCH_DIR)
	$(BENCH_Q)cp $< $@

# CPython also imports a plain "benchext.so", so the file name does not depend on the
# interpreter. Without Python.h the extension is skipped with a note, not an error:
# bench/run then reports the pyext workload as skipped.
$(BENCH_DIR)/benchext.so: $(BENCH_SRC)/pyext.c $(BENCH_SRC)/common.h $(BENCH_SRC)/churn_loop.h \
                          | $(BENCH_DIR)
	$(BENCH_Q)inc=$$('$(BENCH_PYTHON)' -c 'import sysconfig; print(sysconfig.get_paths()["include"])' 2>/dev/null); \
	if [ -n "$$inc" ] && [ -f "$$inc/Python.h" ]; then \
		$(if $(BENCH_V),,echo "  CC      $@";) \
		$(CC) $(BENCH_CFLAGS) -fPIC -shared -I"$$inc" -o $@ $<; \
	else \
		echo "note: no Python.h for '$(BENCH_PYTHON)' (apt-get install python3-dev): pyext workload skipped" >&2; \
	fi

$(BENCH_DIR):
	$(BENCH_Q)mkdir -p $@

# The peers compared against. Installed when missing and we may (root with apt-get);
# otherwise bench/run skips them and says so in the table.
BENCH_DEB_PKGS := heaptrack libjemalloc2 libjemalloc-dev sqlite3 python3-dev g++ redis-server

bench-deps:
	$(BENCH_Q)missing=; \
	command -v heaptrack >/dev/null && command -v heaptrack_print >/dev/null || missing="$$missing heaptrack"; \
	ldconfig -p 2>/dev/null | grep -q 'libjemalloc\.so\.2 ' || missing="$$missing libjemalloc2"; \
	command -v jeprof >/dev/null || missing="$$missing libjemalloc-dev"; \
	command -v sqlite3 >/dev/null || missing="$$missing sqlite3"; \
	command -v g++ >/dev/null || missing="$$missing g++"; \
	command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null \
	    && command -v redis-cli >/dev/null || missing="$$missing redis-server"; \
	case '$(BENCH_PYTHON)' in /usr/bin/*) \
		inc=$$('$(BENCH_PYTHON)' -c 'import sysconfig; print(sysconfig.get_paths()["include"])'); \
		[ -f "$$inc/Python.h" ] || missing="$$missing python3-dev";; \
	esac; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "bench: installing$$missing" >&2; \
		{ DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing \
		  || { apt-get update -q && DEBIAN_FRONTEND=noninteractive \
		       apt-get install -y -q --no-install-recommends $$missing; }; } >&2 \
		|| echo "note: apt-get install$$missing failed; bench/run will skip what is missing" >&2; \
	else \
		echo "note: missing$$missing (apt-get install$$missing as root); bench/run will skip them" >&2; \
	fi

# `all` builds build/heapspan and build/libheapspan.so.
bench: all bench-deps bench-build
	bench/run --no-build --build-dir '$(BUILD)' --python '$(BENCH_PYTHON)' $(BENCH_ARGS)

bench-clean:
	rm -rf $(BENCH_DIR)

.PHONY: bench bench-build bench-deps bench-clean

# The diff at scale (bench/diff-scale.sh): analyzer/diff and its renderers on two models
# of 100,000 sites, and the logs for `heapspan diff` end to end. Not part of `make bench`.
BENCH_DIFF_SRCS := bench/diff_scale.c analyzer/diff.c util/hashmap.c util/json.c util/escape.c \
                   viz/fmt.c \
                   viz/diff_render.c viz/diff_text.c viz/diff_markdown.c viz/diff_json.c \
                   viz/diff_junit.c tests/lib/logbuild.c format/logfmt.c format/evcodec.c

$(BENCH_DIR)/diff_scale: $(BENCH_DIFF_SRCS) analyzer/diff.h analyzer/model.h viz/diff_render.h \
                         | $(BENCH_DIR)
	@$(if $(BENCH_V),,echo "  CC      $@")
	$(BENCH_Q)$(CC) -std=gnu11 -O2 -g -D_GNU_SOURCE -Wall -Wextra -I. -o $@ $(BENCH_DIFF_SRCS) \
	    -lzstd -lm

bench-diff: all $(BENCH_DIR)/diff_scale
	bench/diff-scale.sh --build-dir '$(BUILD)'

.PHONY: bench-diff

# The flame graph and the HTML report at scale (bench/flame-scale.sh): pages of 100,000
# unique stacks, their size, and their time to draw in Chromium. Not part of `make bench`.
BENCH_FLAME_SRCS := bench/flame_scale.c viz/web.c viz/flame.c viz/fmt.c viz/rank.c \
                    viz/render.c viz/text.c viz/markdown.c viz/json.c viz/html.c \
                    util/hashmap.c util/json.c util/strbuf.c $(WEB_ASSETS_C)

$(BENCH_DIR)/flame_scale: $(BENCH_FLAME_SRCS) viz/flame.h viz/render.h viz/web.h \
                          analyzer/model.h | $(BENCH_DIR)
	@$(if $(BENCH_V),,echo "  CC      $@")
	$(BENCH_Q)$(CC) -std=gnu11 -O2 -g -D_GNU_SOURCE -Wall -Wextra -I. -o $@ \
	    $(BENCH_FLAME_SRCS) -lm

bench-flame: all $(BENCH_DIR)/flame_scale
	bench/flame-scale.sh --build-dir '$(BUILD)'

.PHONY: bench-flame

.DEFAULT_GOAL := $(BENCH_SAVED_GOAL)

