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

# The aggregator through the real reader, on logs from tests/lib, with the sanitizers:
# the allocation failure tests must show no leak and no bad access. --wrap: each
# allocation the aggregator makes fails in turn (free too, to count what is given back).
TEST_AGG_SRCS := tests/unit/test_aggregate.c tests/lib/logbuild.c analyzer/aggregate.c \
                 analyzer/reader.c analyzer/pools.c analyzer/liveset.c analyzer/symbolize.c \
                 format/logfmt.c \
                 format/evcodec.c util/hashmap.c util/heap.c util/strbuf.c
$(BUILD)/tests/unit/test_aggregate: $(TEST_AGG_SRCS) $(wildcard analyzer/*.h format/*.h util/*.h) \
                                    tests/lib/logbuild.h $(BUILD)/.deps-ok
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(HS_CFLAGS) $(CFLAGS) -fsanitize=address,undefined -fno-sanitize-recover=all \
	    -o $@ $(TEST_AGG_SRCS) \
	    -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup,--wrap=free \
	    -lcmocka -lzstd -ldw -lelf -liberty -lm -pthread
TEST_UNIT_BINS += $(BUILD)/tests/unit/test_aggregate

# Pools of blocks reported through include/heapspan.h: resets turned into frees by the
# reader (analyzer/pools.c), into the aggregator, with the sanitizers; each allocation
# fails in turn (--wrap).
TEST_POOLS_SRCS := tests/unit/test_pools.c tests/lib/logbuild.c analyzer/pools.c \
                   analyzer/aggregate.c analyzer/reader.c analyzer/liveset.c analyzer/symbolize.c \
                   format/logfmt.c format/evcodec.c util/hashmap.c util/heap.c util/strbuf.c
$(BUILD)/tests/unit/test_pools: $(TEST_POOLS_SRCS) $(wildcard analyzer/*.h format/*.h util/*.h) \
                                tests/lib/logbuild.h $(BUILD)/.deps-ok
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(HS_CFLAGS) $(CFLAGS) -fsanitize=address,undefined -fno-sanitize-recover=all \
	    -o $@ $(TEST_POOLS_SRCS) -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup \
	    -lcmocka -lzstd -ldw -lelf -liberty -lm -pthread
TEST_UNIT_BINS += $(BUILD)/tests/unit/test_pools
