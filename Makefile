# heapspan - heap profiler for native code on Linux.
#
#   make            build build/heapspan and build/libheapspan.so
#   make demo       build, then record and report the bundled demo program
#   make test       build, then run unit and integration tests, format-check and
#                   check-layers ("N passed, N failed")
#   make check-layers   every #include points the way the layers depend (docs/architecture.md)
#   make stress     the stress suite in full, a few minutes (tests/stress.sh)
#   make fuzz FUZZ_SECONDS=N   each libFuzzer target for N seconds (tests/fuzz/README.md)
#   make bench      the benchmark against heaptrack and jemalloc's profiler (bench/)
#   make install PREFIX=/usr/local DESTDIR=
#   make format / format-check / clean
#
# The first build installs the Debian packages it needs (as root) and builds libunwind
# from Debian's source package as a PIC static library (preload/build-libunwind.sh).
# Quiet by default; V=1 shows the commands.

BUILD   := build
PREFIX  ?= /usr/local
CC      ?= cc
V       ?= 0
Q       := $(if $(filter 1,$(V)),,@)

DEB_PACKAGES := gcc g++ make dpkg-dev libdw-dev libelf-dev libiberty-dev libzstd-dev \
                liblzma-dev libbz2-dev zlib1g-dev libcurl4-openssl-dev \
                libcmocka-dev libjemalloc-dev libjemalloc2 python3-dev elfutils valgrind \
                zstd binutils libxml2-utils sqlite3 clang-14 libclang-rt-14-dev \
                groff-base man-db bsdextrautils \
                python3-numpy python3-cryptography

WARN      := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
             -Wformat=2 -Wundef
HS_CFLAGS := -std=gnu11 -O2 -g $(WARN) -D_GNU_SOURCE -MMD -MP -I.
UNWIND_DIR := $(BUILD)/deps/libunwind
UNWIND_LIB := $(UNWIND_DIR)/src/.libs/libunwind.a
# -fexceptions: a C++ operator new may throw through the shim's frames, whose cleanup
# must run. -fno-builtin-*: gcc would turn malloc+memset into a call to our own calloc.
SHIM_CFLAGS := $(HS_CFLAGS) -fPIC -fvisibility=hidden -fexceptions -fno-omit-frame-pointer \
               -fno-builtin-malloc -fno-builtin-calloc -fno-builtin-realloc \
               -fno-builtin-free -ftls-model=initial-exec -I$(UNWIND_DIR)/include
# --wrap=sigprocmask: libunwind's calls go to stacks.c's __wrap_sigprocmask (see there).
# --wrap=pipe2,close,read,syscall: libunwind's memory validation, which writes through a
# pipe of its own, needs no descriptor or checks that its pipe is still its own
# (preload/fdguard.c).
SHIM_LDFLAGS := -shared -Wl,--exclude-libs,ALL -Wl,-z,nodelete -Wl,-z,defs \
	-Wl,--wrap=sigprocmask -Wl,--wrap=pipe2 -Wl,--wrap=close -Wl,--wrap=read \
	-Wl,--wrap=syscall
SHIM_LIBS := -lzstd -lm -pthread -ldl

# format/ is compiled twice: into the shim with the shim's flags, and into the CLI.
FORMAT_SRCS := format/logfmt.c format/evcodec.c
SHIM_SRCS := \
	preload/shim_start.c \
	preload/shim_record.c \
	preload/shim_libc.c \
	preload/shim_cxx.c \
	preload/shim_jemalloc.c \
	preload/shim_process.c \
	preload/shim_signal.c \
	preload/shim_fork.c \
	preload/shim_api.c \
	preload/tbuf.c \
	preload/stacks.c \
	preload/pystacks.c \
	preload/writer.c \
	preload/modmap.c \
	preload/sampler.c \
	preload/rt.c \
	preload/fdguard.c \
	preload/memwatch.c \
	$(FORMAT_SRCS)
SHIM_OBJS := $(SHIM_SRCS:%.c=$(BUILD)/shim/%.o)

# util/ is the analyzer side's only: never linked into the shim.
UTIL_SRCS := \
	util/hashmap.c \
	util/strbuf.c \
	util/heap.c \
	util/json.c \
	util/pbuf.c \
	util/gzip.c \
	util/escape.c
ANALYZER_SRCS := \
	analyzer/reader.c \
	analyzer/pyline.c \
	analyzer/pools.c \
	analyzer/liveset.c \
	analyzer/symbolize.c \
	analyzer/replay.c \
	analyzer/suppress.c \
	analyzer/wrappers.c \
	analyzer/debuginfo.c \
	analyzer/view.c \
	analyzer/aggregate.c \
	analyzer/allocdetect.c \
	analyzer/snapshot.c \
	analyzer/session.c \
	analyzer/diff.c
VIZ_SRCS := \
	viz/render.c \
	viz/fmt.c \
	viz/rank.c \
	viz/text.c \
	viz/markdown.c \
	viz/json.c \
	viz/diff_render.c \
	viz/diff_text.c \
	viz/diff_markdown.c \
	viz/diff_json.c \
	viz/diff_junit.c \
	viz/web.c \
	viz/flame.c \
	viz/folded.c \
	viz/speedscope.c \
	viz/pprof.c \
	viz/html.c \
	viz/otlp.c
# The pages' scripts and styles, embedded as C strings at build time (viz/web.h).
WEB_ASSETS := viz/assets/flame.js viz/assets/flame.css viz/assets/report.css
WEB_ASSETS_C := $(BUILD)/gen/viz/assets.c
CLI_SRCS := \
	cli/main.c \
	cli/opts.c \
	cli/http.c \
	cli/cmd_run.c \
	cli/cmd_dump.c \
	cli/cmd_report.c \
	cli/cmd_diff.c \
	cli/cmd_snapshot.c \
	cli/output.c \
	cli/progress.c \
	cli/cmd_flame.c \
	cli/cmd_export.c \
	cli/otlp.c \
	cli/otlp_resp.c \
	cli/otlp_watch.c
HEAPSPAN_SRCS := $(FORMAT_SRCS) $(UTIL_SRCS) $(ANALYZER_SRCS) $(VIZ_SRCS) $(CLI_SRCS) \
                 $(WEB_ASSETS_C)
HEAPSPAN_OBJS := $(HEAPSPAN_SRCS:%.c=$(BUILD)/obj/%.o)
# elfutils and the compressors are linked statically: `heapspan run` starts before the
# program it measures, and loading seven shared libraries cost it 0.4 ms of 2.5 ms.
CLI_LIBS := -Wl,-Bstatic -ldw -lelf -liberty -lzstd -llzma -lbz2 -lz -Wl,-Bdynamic \
            -lm -ldl -pthread

all: $(BUILD)/heapspan $(BUILD)/libheapspan.so

# ---- dependencies ----

$(BUILD)/.deps-ok:
	$(Q)mkdir -p $(BUILD)
	$(Q)missing=$$(for p in $(DEB_PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' \
	    || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    echo "installing Debian packages:" $$missing; \
	    if [ "$$(id -u)" != 0 ]; then \
	        echo "error: run as root, or install them first: apt-get install" $$missing >&2; \
	        exit 2; fi; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing \
	        >/dev/null; fi
	$(Q)touch $@

$(UNWIND_DIR)/.built: $(BUILD)/.deps-ok preload/build-libunwind.sh
	@echo "  LIBUNWIND (PIC, from Debian source)"
	$(Q)sh preload/build-libunwind.sh $(BUILD)/deps

# ---- the shim ----

$(BUILD)/shim/%.o: %.c $(UNWIND_DIR)/.built
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(SHIM_CFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/libheapspan.so: $(SHIM_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(SHIM_LDFLAGS) $(LDFLAGS) -o $@ $(SHIM_OBJS) $(UNWIND_LIB) $(SHIM_LIBS)

# ---- the CLI ----

$(BUILD)/obj/%.o: %.c $(BUILD)/.deps-ok
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(HS_CFLAGS) $(CFLAGS) -c -o $@ $<

$(WEB_ASSETS_C): $(WEB_ASSETS) viz/assets/embed.sh
	@mkdir -p $(dir $@)
	@echo "  EMBED   $@"
	$(Q)sh viz/assets/embed.sh $@ flame_js=viz/assets/flame.js flame_css=viz/assets/flame.css \
	    report_css=viz/assets/report.css

$(BUILD)/heapspan: $(HEAPSPAN_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(CLI_LIBS)

-include $(wildcard $(BUILD)/shim/*/*.d $(BUILD)/obj/*/*.d $(BUILD)/obj/build/gen/*/*.d)
-include tests/unit/unit.mk
-include tests/report.mk
-include tests/diff.mk
-include tests/api.mk
-include tests/flame.mk
-include tests/otlp.mk
-include tests/tests.mk
-include tests/hostile.mk
-include tests/fuzz/fuzz.mk
-include bench/bench.mk

# ---- demo ----

demo: all $(BUILD)/tests/progs/demo_service
	@echo "== recording the demo service"
	@echo "   build/heapspan run --force -o $(BUILD)/demo.hsl -- $(BUILD)/tests/progs/demo_service"
	$(Q)rm -f $(BUILD)/demo.hsl
	$(Q)$(BUILD)/heapspan run --force -o $(BUILD)/demo.hsl -- $(BUILD)/tests/progs/demo_service
	@echo "== the report: build/heapspan report --top 5 $(BUILD)/demo.hsl"
	$(Q)$(BUILD)/heapspan report --top 5 $(BUILD)/demo.hsl
	@echo "== also: --format json (for scripts), --format markdown (for tickets)"

# ---- install ----

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/heapspan \
	    $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(BUILD)/heapspan $(DESTDIR)$(PREFIX)/bin/heapspan
	install -m 644 $(BUILD)/libheapspan.so $(DESTDIR)$(PREFIX)/lib/heapspan/libheapspan.so
	install -m 644 docs/heapspan.1 $(DESTDIR)$(PREFIX)/share/man/man1/heapspan.1

CLANG_FORMAT_SRCS = $(wildcard include/*.h format/*.[ch] preload/*.[ch] analyzer/*.[ch] util/*.[ch] \
                    viz/*.[ch] cli/*.[ch] tests/unit/*.c tests/lib/*.[ch] tests/progs/*.c \
                    tests/stress/*.c tests/fuzz/*.[ch])

format:
	clang-format -i $(CLANG_FORMAT_SRCS)

FORMAT_CHECK = clang-format --dry-run --Werror $(CLANG_FORMAT_SRCS)

format-check:
	$(FORMAT_CHECK)

# The arrows format <- preload; format <- analyzer <- viz <- cli; util <- analyzer, viz,
# cli, as a test: one line per include that points the wrong way (tests/check-layers.sh).
CHECK_LAYERS = tests/check-layers.sh

check-layers:
	$(Q)$(CHECK_LAYERS)

# Checks `make test` runs after its tests, each counted as one test: TEST_CHECK_<name>
# is its command (tests/tests.mk). Commands, not recursive makes: `make -n test` runs
# a recipe line that names $(MAKE).
TEST_CHECKS := format-check check-layers man
TEST_CHECK_format-check = $(FORMAT_CHECK)
TEST_CHECK_check-layers = $(CHECK_LAYERS)
# heapspan(1): renders without a warning, names every option of every command, and
# `make install` puts it (with the command and the shim) under DESTDIR/PREFIX.
TEST_CHECK_man = tests/man-tests.sh $(BUILD)/heapspan

clean:
	rm -rf $(BUILD)/shim $(BUILD)/obj $(BUILD)/gen $(BUILD)/tests $(BUILD)/heapspan \
	    $(BUILD)/libheapspan.so $(BUILD)/fuzz

.PHONY: all demo install format format-check check-layers clean
