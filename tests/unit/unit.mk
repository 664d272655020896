# Unit tests (cmocka), one binary per module: tests/unit/test_<module>.c.
# Included by the top-level Makefile; TEST_UNIT_BINS is what `make test` runs, each
# with TEST_UNIT_ARGS_<name> as its arguments.

SYM_TEST_PROGS := $(BUILD)/tests/progs/sym_inline $(BUILD)/tests/progs/sym_cxx \
                  $(if $(shell command -v rustc 2>/dev/null),$(BUILD)/tests/progs/sym_rust_prog)

$(BUILD)/tests/progs/sym_inline: tests/progs/sym_inline.c tests/progs/sym_progs.h
	@mkdir -p $(dir $@)
	$(Q)$(CC) -std=gnu11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -o $@ $<

$(BUILD)/tests/progs/sym_cxx: tests/progs/sym_cxx.cc tests/progs/sym_progs.h
	@mkdir -p $(dir $@)
	$(Q)g++ -std=gnu++17 -O2 -g -Wall -Wextra -Werror -o $@ $<

$(BUILD)/tests/progs/sym_rust_prog: tests/progs/sym_rust_prog.rs
	@mkdir -p $(dir $@)
	$(Q)rustc -g -C opt-level=0 -o $@ $<

# --wrap: the symbolizer test makes every allocation fail in turn.
$(BUILD)/tests/unit/test_symbolize: tests/unit/test_symbolize.c $(BUILD)/obj/analyzer/symbolize.o \
                                    | $(SYM_TEST_PROGS)
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(HS_CFLAGS) $(CFLAGS) -o $@ $< $(BUILD)/obj/analyzer/symbolize.o \
	    -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc -lcmocka -ldw -lelf -liberty
TEST_ARGS_test_symbolize := $(BUILD)/tests/progs

TEST_UNIT_BINS += $(BUILD)/tests/unit/test_symbolize

# The synthetic log builder the tests share (tests/lib/logbuild.h), compiled by the
# top-level Makefile's $(BUILD)/obj rule like any source.
TEST_LOGBUILD := $(BUILD)/obj/tests/lib/logbuild.o
-include $(wildcard $(BUILD)/obj/tests/lib/*.d)

ifneq ($(wildcard tests/unit/test_reader.c),)
$(BUILD)/tests/unit/test_reader: tests/unit/test_reader.c $(BUILD)/obj/analyzer/reader.o \
                                 $(BUILD)/obj/analyzer/pools.o $(BUILD)/obj/analyzer/liveset.o \
                                 $(BUILD)/obj/format/logfmt.o $(BUILD)/obj/format/evcodec.o \
                                 $(BUILD)/obj/util/heap.o $(BUILD)/obj/util/strbuf.o \
                                 $(BUILD)/obj/util/hashmap.o $(TEST_LOGBUILD)
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(HS_CFLAGS) $(CFLAGS) -o $@ $^ -lcmocka -lzstd -lm -pthread
TEST_UNIT_BINS += $(BUILD)/tests/unit/test_reader
TEST_ARGS_test_reader := $(BUILD)/libheapspan.so
endif

# Built with the sanitizers: the damaged-payload test must show no out-of-bounds read.
$(BUILD)/tests/unit/test_evcodec: tests/unit/test_evcodec.c format/evcodec.c format/logfmt.c \
                                  format/evcodec.h format/logfmt.h $(BUILD)/.deps-ok
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(HS_CFLAGS) $(CFLAGS) -fsanitize=address,undefined -fno-sanitize-recover=all \
	    -o $@ $(filter %.c,$^) -lcmocka -lzstd
TEST_UNIT_BINS += $(BUILD)/tests/unit/test_evcodec

# The sampled set's filter and the countdown's draws (preload/sampler.c), on its own.
$(BUILD)/tests/unit/test_sampler: tests/unit/test_sampler.c preload/sampler.c preload/rt.c \
                                  preload/sampler.h preload/rt.h
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(HS_CFLAGS) $(CFLAGS) -o $@ $(filter %.c,$^) -lcmocka -lm -pthread
TEST_UNIT_BINS += $(BUILD)/tests/unit/test_sampler

# The stack hash taken in pieces (preload/stackhash.h, header only).
$(BUILD)/tests/unit/test_stackhash: tests/unit/test_stackhash.c preload/stackhash.h
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(HS_CFLAGS) $(CFLAGS) -fsanitize=address,undefined -fno-sanitize-recover=all \
	    -o $@ $(filter %.c,$^) -lcmocka
TEST_UNIT_BINS += $(BUILD)/tests/unit/test_stackhash

# The analyzer as `heapspan` links it, less viz/ and cli/: what the tests of a stage
# that reads logs (aggregate, replay, snapshots, pools) link, whole, so that a new
# dependency between analyzer modules never needs four lists edited.
TEST_ANALYZER_SRCS = $(FORMAT_SRCS) $(UTIL_SRCS) $(ANALYZER_SRCS) tests/lib/logbuild.c
TEST_ANALYZER_LIBS := -lcmocka -lzstd -ldw -lelf -liberty -lz -lm -ldl -pthread

# The aggregator through the real reader, on logs from tests/lib, with the sanitizers:
# the allocation failure tests must show no leak and no bad access. --wrap: each
# allocation the aggregator makes fails in turn (free too, to count what is given back).
TEST_AGG_SRCS := tests/unit/test_aggregate.c $(TEST_ANALYZER_SRCS)
$(BUILD)/tests/unit/test_aggregate: $(TEST_AGG_SRCS) $(wildcard analyzer/*.h format/*.h util/*.h) \
                                    tests/lib/logbuild.h $(BUILD)/.deps-ok
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(HS_CFLAGS) $(CFLAGS) -fsanitize=address,undefined -fno-sanitize-recover=all \
	    -o $@ $(TEST_AGG_SRCS) \
	    -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup,--wrap=free \
	    $(TEST_ANALYZER_LIBS)
TEST_UNIT_BINS += $(BUILD)/tests/unit/test_aggregate

# The protobuf wire writer and gzip (util/): bytes worked out by hand, zlib's inflate.
# --wrap=realloc: the writer's allocation failure is tested.
$(BUILD)/tests/unit/test_pbuf: tests/unit/test_pbuf.c util/pbuf.c util/gzip.c util/pbuf.h \
                               util/gzip.h $(BUILD)/.deps-ok
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(HS_CFLAGS) $(CFLAGS) -fsanitize=address,undefined -fno-sanitize-recover=all \
	    -o $@ $(filter %.c,$^) -Wl,--wrap=realloc -lcmocka -lz
TEST_UNIT_BINS += $(BUILD)/tests/unit/test_pbuf

# cli/http.c against a loopback server the test forks: retries, Retry-After, timeouts.
$(BUILD)/tests/unit/test_http: tests/unit/test_http.c cli/http.c cli/http.h $(BUILD)/.deps-ok
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(HS_CFLAGS) $(CFLAGS) -o $@ $(filter %.c,$^) -lcmocka -ldl -lm
TEST_UNIT_BINS += $(BUILD)/tests/unit/test_http

# The diff of two models built by hand (analyzer/diff.c), with the sanitizers; --wrap:
# each allocation diff_new makes fails in turn.
TEST_DIFF_SRCS := tests/unit/test_diff.c analyzer/diff.c util/hashmap.c
$(BUILD)/tests/unit/test_diff: $(TEST_DIFF_SRCS) analyzer/diff.h analyzer/model.h util/hashmap.h \
                               format/bytesize.h $(BUILD)/.deps-ok
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(HS_CFLAGS) $(CFLAGS) -fsanitize=address,undefined -fno-sanitize-recover=all \
	    -o $@ $(TEST_DIFF_SRCS) -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc -lcmocka -lm
TEST_UNIT_BINS += $(BUILD)/tests/unit/test_diff

# The diff renderers (viz/diff_*.c) on a diff built by hand, with the sanitizers.
TEST_DIFF_RENDER_SRCS := tests/unit/test_diff_render.c analyzer/diff.c util/hashmap.c util/json.c \
                         util/escape.c \
                         viz/fmt.c viz/diff_render.c viz/diff_text.c viz/diff_markdown.c \
                         viz/diff_json.c viz/diff_junit.c
$(BUILD)/tests/unit/test_diff_render: $(TEST_DIFF_RENDER_SRCS) analyzer/diff.h analyzer/model.h \
                                      viz/diff_render.h viz/fmt.h util/json.h $(BUILD)/.deps-ok
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(HS_CFLAGS) $(CFLAGS) -fsanitize=address,undefined -fno-sanitize-recover=all \
	    -o $@ $(TEST_DIFF_RENDER_SRCS) -lcmocka -lm
TEST_UNIT_BINS += $(BUILD)/tests/unit/test_diff_render

# The flame graph's data and the exports on a model built by hand, with the sanitizers.
TEST_FLAME_SRCS := tests/unit/test_flame.c viz/flame.c viz/folded.c viz/speedscope.c \
                   viz/pprof.c viz/web.c viz/fmt.c util/hashmap.c util/json.c util/strbuf.c \
                   util/pbuf.c util/gzip.c util/escape.c $(WEB_ASSETS_C)
$(BUILD)/tests/unit/test_flame: $(TEST_FLAME_SRCS) viz/flame.h viz/export.h viz/web.h \
                                analyzer/model.h $(BUILD)/.deps-ok
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(HS_CFLAGS) $(CFLAGS) -fsanitize=address,undefined -fno-sanitize-recover=all \
	    -o $@ $(TEST_FLAME_SRCS) -lcmocka -lz -lm
TEST_UNIT_BINS += $(BUILD)/tests/unit/test_flame

# The shim's threaded core (buffers, writer and reaper, stacks, the recording core) in a
# program built with ThreadSanitizer; test_tbuf.c says why the preloaded shim cannot be.
# Its own objects: the shim's sources with the shim's flags, plus -fsanitize=thread.
TEST_TSAN_SRCS := preload/tbuf.c preload/writer.c preload/stacks.c preload/pystacks.c preload/rt.c \
                  preload/sampler.c preload/shim_record.c format/logfmt.c format/evcodec.c
TEST_TSAN_OBJS := $(TEST_TSAN_SRCS:%.c=$(BUILD)/tests/tsan/%.o)
TEST_TSAN_FLAGS := -fsanitize=thread -fno-omit-frame-pointer -O1 -g

$(BUILD)/tests/tsan/%.o: %.c $(UNWIND_DIR)/.built
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(filter-out -fPIC -fvisibility=hidden -O2,$(SHIM_CFLAGS)) $(TEST_TSAN_FLAGS) \
	    $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/unit/test_tbuf: tests/unit/test_tbuf.c $(TEST_TSAN_OBJS)
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(HS_CFLAGS) -I$(UNWIND_DIR)/include $(TEST_TSAN_FLAGS) $(CFLAGS) -o $@ $^ \
	    $(UNWIND_LIB) -Wl,--wrap=sigprocmask,--wrap=tb_reap -lcmocka -lzstd -lm -pthread -ldl
TEST_UNIT_BINS += $(BUILD)/tests/unit/test_tbuf

-include $(wildcard $(BUILD)/tests/tsan/*/*.d)

# The replay engine, and the aggregator's points on it, on logs from tests/lib, with the
# sanitizers.
TEST_REPLAY_SRCS := tests/unit/test_replay.c $(TEST_ANALYZER_SRCS)
$(BUILD)/tests/unit/test_replay: $(TEST_REPLAY_SRCS) $(wildcard analyzer/*.h format/*.h util/*.h) \
                                 tests/lib/logbuild.h $(BUILD)/.deps-ok
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(HS_CFLAGS) $(CFLAGS) -fsanitize=address,undefined -fno-sanitize-recover=all \
	    -o $@ $(TEST_REPLAY_SRCS) $(TEST_ANALYZER_LIBS)
TEST_UNIT_BINS += $(BUILD)/tests/unit/test_replay

# Snapshots: written and read back, damaged, each allocation failing in turn; sessions
# on logs and snapshots. With the sanitizers; --wrap as test_aggregate's. Run from the
# top directory: it reads tests/golden/logs.
TEST_SNAPSHOT_SRCS := tests/unit/test_snapshot.c $(TEST_ANALYZER_SRCS)
$(BUILD)/tests/unit/test_snapshot: $(TEST_SNAPSHOT_SRCS) $(wildcard analyzer/*.h format/*.h util/*.h) \
                                   tests/lib/logbuild.h $(BUILD)/.deps-ok
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(HS_CFLAGS) $(CFLAGS) -fsanitize=address,undefined -fno-sanitize-recover=all \
	    -o $@ $(TEST_SNAPSHOT_SRCS) \
	    -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup,--wrap=free \
	    $(TEST_ANALYZER_LIBS)
TEST_UNIT_BINS += $(BUILD)/tests/unit/test_snapshot

# Leaks set apart: LSan's patterns and file, the C runtime's built-in rules.
$(BUILD)/tests/unit/test_suppress: tests/unit/test_suppress.c analyzer/suppress.c util/escape.c \
                                   analyzer/suppress.h analyzer/model.h $(BUILD)/.deps-ok
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(HS_CFLAGS) $(CFLAGS) -fsanitize=address,undefined -fno-sanitize-recover=all \
	    -o $@ $(filter %.c,$^) -lcmocka
TEST_UNIT_BINS += $(BUILD)/tests/unit/test_suppress

# What a log's strings become on a terminal and in JSON (util/escape.c, util/json.c).
$(BUILD)/tests/unit/test_escape: tests/unit/test_escape.c util/escape.c util/json.c \
                                 util/escape.h util/json.h $(BUILD)/.deps-ok
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(HS_CFLAGS) $(CFLAGS) -fsanitize=address,undefined -fno-sanitize-recover=all \
	    -o $@ $(filter %.c,$^) -lcmocka
TEST_UNIT_BINS += $(BUILD)/tests/unit/test_escape

# Pools of blocks reported through include/heapspan.h: resets turned into frees by the
# reader (analyzer/pools.c), into the aggregator, with the sanitizers; each allocation
# fails in turn (--wrap).
TEST_POOLS_SRCS := tests/unit/test_pools.c $(TEST_ANALYZER_SRCS)
$(BUILD)/tests/unit/test_pools: $(TEST_POOLS_SRCS) $(wildcard analyzer/*.h format/*.h util/*.h) \
                                tests/lib/logbuild.h $(BUILD)/.deps-ok
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(HS_CFLAGS) $(CFLAGS) -fsanitize=address,undefined -fno-sanitize-recover=all \
	    -o $@ $(TEST_POOLS_SRCS) -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup \
	    $(TEST_ANALYZER_LIBS)
TEST_UNIT_BINS += $(BUILD)/tests/unit/test_pools

# What a report says of models built by hand: readable names, wrappers and titles,
# intervals, Markdown's code spans and stacks, JSON's frames and --sort, dpkg's lists.
TEST_REPORT_UNIT_SRCS = tests/unit/test_report.c $(TEST_ANALYZER_SRCS) $(VIZ_SRCS) $(WEB_ASSETS_C)
$(BUILD)/tests/unit/test_report: $(TEST_REPORT_UNIT_SRCS) $(wildcard analyzer/*.h viz/*.h util/*.h) \
                                 $(BUILD)/.deps-ok
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(HS_CFLAGS) $(CFLAGS) -fsanitize=address,undefined -fno-sanitize-recover=all \
	    -o $@ $(TEST_REPORT_UNIT_SRCS) $(TEST_ANALYZER_LIBS)
TEST_UNIT_BINS += $(BUILD)/tests/unit/test_report

# The OTLP trace and the exporter's settings (viz/otlp.c, cli/otlp.c), with the sanitizers.
TEST_OTLP_SRCS := tests/unit/test_otlp.c viz/otlp.c viz/fmt.c viz/rank.c cli/otlp.c \
                  cli/otlp_resp.c cli/http.c util/escape.c util/json.c util/pbuf.c util/gzip.c \
                  util/strbuf.c
$(BUILD)/tests/unit/test_otlp: $(TEST_OTLP_SRCS) viz/otlp.h cli/otlp.h $(BUILD)/.deps-ok
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(HS_CFLAGS) $(CFLAGS) -fsanitize=address,undefined -fno-sanitize-recover=all \
	    -o $@ $(filter %.c,$^) -lcmocka -lz -ldl -lm
TEST_UNIT_BINS += $(BUILD)/tests/unit/test_otlp
