# fuzz.mk - the standing fuzz suite: one libFuzzer target per parser of outside input
# (tests/fuzz/README.md says what each takes and how to add one). Included by the
# top-level Makefile after tests/tests.mk.
#
#   make fuzz FUZZ_SECONDS=600         every target for that long, one after the other,
#                                      its corpus kept in build/fuzz/corpus/TARGET/
#   make fuzz FUZZ_ONLY='reader meta'  only those
#   make fuzz-build                    only build them, into build/fuzz/
#
# `make test` runs each target's committed crash inputs (tests/fuzz/regressions/TARGET/)
# and a short run of FUZZ_TEST_SECONDS from its seeds (tests/fuzz-tests.sh), each
# counted as a test. Built with clang's libFuzzer, AddressSanitizer and UBSan (clang-14
# and libclang-rt-14-dev are in the top-level Makefile's DEB_PACKAGES).

FUZZ_CC ?= clang-14
FUZZ_SECONDS ?= 60
FUZZ_TEST_SECONDS ?= 10
FUZZ_ONLY ?=
FUZZ_DIR := $(BUILD)/fuzz
FUZZ_CFLAGS := -std=gnu11 -O1 -g -fno-omit-frame-pointer -D_GNU_SOURCE -I. $(WARN) \
               -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
FUZZ_LDFLAGS := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all

# The analyzer's sources as `heapspan report` links them, less the CLI.
FUZZ_REPORT_SRCS := $(FORMAT_SRCS) $(UTIL_SRCS) $(ANALYZER_SRCS) $(VIZ_SRCS) $(WEB_ASSETS_C) \
                    tests/fuzz/fuzzlib.c tests/fuzz/fuzzreport.c
FUZZ_REPORT_LIBS := -ldw -lelf -liberty -lzstd -lm -pthread -lz -ldl

# ---- the targets: FUZZ_SRCS_<t>, FUZZ_LIBS_<t>, FUZZ_MAX_LEN_<t>, FUZZ_SEEDS_<t> ----
# Seeds: tests/fuzz/corpus/<t>/ (committed) and the directories in FUZZ_SEEDS_<t>.

FUZZ_TARGETS := reader meta evcodec bytesize escape snapshot suppress retryafter otlpresp \
                otlpenv settings pyline debuginfo

FUZZ_SRCS_reader := tests/fuzz/reader.c $(FUZZ_REPORT_SRCS)
FUZZ_LIBS_reader := $(FUZZ_REPORT_LIBS)
FUZZ_MAX_LEN_reader := 65536
FUZZ_SEEDS_reader := $(FUZZ_DIR)/seeds/reader tests/golden/logs

FUZZ_SRCS_meta := tests/fuzz/meta.c tests/lib/logbuild.c $(FUZZ_REPORT_SRCS)
FUZZ_LIBS_meta := $(FUZZ_REPORT_LIBS)
FUZZ_MAX_LEN_meta := 16384
FUZZ_SEEDS_meta := $(FUZZ_DIR)/seeds/meta

FUZZ_SRCS_evcodec := tests/fuzz/evcodec.c tests/fuzz/fuzzlib.c format/evcodec.c format/logfmt.c \
                     util/escape.c
FUZZ_LIBS_evcodec := -lzstd
FUZZ_MAX_LEN_evcodec := 16384
FUZZ_SEEDS_evcodec := $(FUZZ_DIR)/seeds/evcodec

FUZZ_SRCS_bytesize := tests/fuzz/bytesize.c tests/fuzz/fuzzlib.c util/escape.c
FUZZ_MAX_LEN_bytesize := 64

# cli/opts.c holds the shared model options, which reach the analyzer (--focus's view).
FUZZ_SRCS_settings := tests/fuzz/settings.c cli/opts.c $(FUZZ_REPORT_SRCS)
FUZZ_LIBS_settings := $(FUZZ_REPORT_LIBS)
FUZZ_MAX_LEN_settings := 128

FUZZ_SRCS_escape := tests/fuzz/escape.c tests/fuzz/fuzzlib.c util/escape.c util/json.c
FUZZ_MAX_LEN_escape := 4096

FUZZ_SRCS_debuginfo := tests/fuzz/debuginfo.c $(FUZZ_REPORT_SRCS)
FUZZ_LIBS_debuginfo := $(FUZZ_REPORT_LIBS)
FUZZ_MAX_LEN_debuginfo := 4096

FUZZ_SRCS_snapshot := tests/fuzz/snapshot.c $(FUZZ_REPORT_SRCS)
FUZZ_LIBS_snapshot := $(FUZZ_REPORT_LIBS)
FUZZ_MAX_LEN_snapshot := 16384
FUZZ_SEEDS_snapshot := $(FUZZ_DIR)/seeds/snapshot

FUZZ_SRCS_pyline := tests/fuzz/pyline.c tests/fuzz/fuzzlib.c analyzer/pyline.c util/escape.c
FUZZ_MAX_LEN_pyline := 4096

FUZZ_SRCS_suppress := tests/fuzz/suppress.c tests/fuzz/fuzzlib.c analyzer/suppress.c util/escape.c
FUZZ_MAX_LEN_suppress := 4096

FUZZ_SRCS_retryafter := tests/fuzz/retryafter.c tests/fuzz/fuzzlib.c cli/http.c util/escape.c
FUZZ_LIBS_retryafter := -ldl -lm
FUZZ_MAX_LEN_retryafter := 255

FUZZ_SRCS_otlpresp := tests/fuzz/otlpresp.c tests/fuzz/fuzzlib.c cli/otlp_resp.c util/escape.c
FUZZ_MAX_LEN_otlpresp := 4096

FUZZ_SRCS_otlpenv := tests/fuzz/otlpenv.c tests/fuzz/fuzzlib.c cli/otlp.c cli/otlp_resp.c \
                     cli/http.c viz/otlp.c viz/fmt.c viz/rank.c util/escape.c util/json.c \
                     util/pbuf.c util/gzip.c util/strbuf.c
FUZZ_LIBS_otlpenv := -lz -ldl -lm
FUZZ_MAX_LEN_otlpenv := 4096

# ---- building ----

FUZZ_BINS := $(addprefix $(FUZZ_DIR)/,$(FUZZ_TARGETS))

$(FUZZ_DIR)/obj/%.o: %.c $(BUILD)/.deps-ok
	@mkdir -p $(dir $@)
	@echo "  FUZZCC  $<"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -c -o $@ $<

-include $(wildcard $(FUZZ_DIR)/obj/*/*.d $(FUZZ_DIR)/obj/*/*/*.d)

# Each target from its sources' objects (a rule per target: its list is its own).
define FUZZ_TARGET_RULE
$(FUZZ_DIR)/$(1): $$(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$$(FUZZ_SRCS_$(1)))
	@echo "  FUZZLD  $$@"
	$(Q)$(FUZZ_CC) $(FUZZ_LDFLAGS) -o $$@ $$^ $$(FUZZ_LIBS_$(1))
endef
$(foreach t,$(FUZZ_TARGETS),$(eval $(call FUZZ_TARGET_RULE,$(t))))

# The seeds made by tests/lib/mklog.c, one directory per target that has some.
$(FUZZ_DIR)/seeds/.made: $(TEST_MKLOG)
	$(Q)rm -rf $(FUZZ_DIR)/seeds/reader $(FUZZ_DIR)/seeds/meta $(FUZZ_DIR)/seeds/evcodec && \
	    mkdir -p $(FUZZ_DIR)/seeds/reader $(FUZZ_DIR)/seeds/meta $(FUZZ_DIR)/seeds/evcodec
	$(Q)$(TEST_MKLOG) $(FUZZ_DIR)/seeds seeds
	$(Q)touch $@

# The snapshot target's: the golden logs' snapshots, with and without symbols, then
# tests/fuzz/mksnap.c's (a model by hand, and damaged variants of every snapshot there).
FUZZ_MKSNAP := $(FUZZ_DIR)/mksnap
FUZZ_MKSNAP_OBJS := $(BUILD)/obj/tests/fuzz/mksnap.o \
                    $(patsubst %.c,$(BUILD)/obj/%.o,$(FORMAT_SRCS) $(UTIL_SRCS) $(ANALYZER_SRCS))
-include $(wildcard $(BUILD)/obj/tests/fuzz/*.d)

$(FUZZ_MKSNAP): $(FUZZ_MKSNAP_OBJS)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) -o $@ $^ $(CLI_LIBS)

$(FUZZ_DIR)/seeds/snapshot/.made: $(FUZZ_MKSNAP) $(BUILD)/heapspan $(wildcard tests/golden/logs/*.hsl)
	$(Q)rm -rf $(dir $@) && mkdir -p $(dir $@)
	$(Q)for log in tests/golden/logs/*.hsl; do \
	    name=$$(basename $$log .hsl); \
	    $(BUILD)/heapspan snapshot --no-symbols -o $(dir $@)golden-$$name.hsnap $$log 2>/dev/null && \
	    $(BUILD)/heapspan snapshot -o $(dir $@)golden-$$name-sym.hsnap $$log 2>/dev/null || exit 1; \
	done
	$(Q)$(FUZZ_MKSNAP) $(dir $@)
	$(Q)touch $@

# The list tests/fuzz-tests.sh runs: a line per target, "NAME MAX_LEN SEED_DIR...".
$(FUZZ_DIR)/targets: tests/fuzz/fuzz.mk
	@mkdir -p $(dir $@)
	$(Q)printf '%s\n' $(foreach t,$(FUZZ_TARGETS),'$(t) $(FUZZ_MAX_LEN_$(t)) $(wildcard tests/fuzz/corpus/$(t)) $(FUZZ_SEEDS_$(t))') >$@

fuzz-build: $(FUZZ_BINS) $(FUZZ_DIR)/seeds/.made $(FUZZ_DIR)/seeds/snapshot/.made $(FUZZ_DIR)/targets

# ---- running ----

FUZZ_RUN := $(if $(FUZZ_ONLY),$(FUZZ_ONLY),$(FUZZ_TARGETS))

# One target: its corpus grows in build/fuzz/corpus/<t>/ (new inputs are written to the
# first directory); a crash is written to build/fuzz/crashes/<t>/ and stops the run
# (copy it to tests/fuzz/regressions/<t>/ once fixed). The last line of each run says
# how many inputs it executed, in how long.
fuzz: fuzz-build
	$(Q)fail=0; \
	$(foreach t,$(FUZZ_RUN),\
	mkdir -p $(FUZZ_DIR)/corpus/$(t) $(FUZZ_DIR)/crashes/$(t); \
	echo "== fuzz $(t): $(FUZZ_SECONDS) s"; \
	start=$$(date +%s); \
	$(FUZZ_DIR)/$(t) -max_total_time=$(FUZZ_SECONDS) -max_len=$(FUZZ_MAX_LEN_$(t)) -timeout=20 \
	    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/crashes/$(t)/ \
	    $(FUZZ_DIR)/corpus/$(t) $(wildcard tests/fuzz/corpus/$(t)) $(FUZZ_SEEDS_$(t)) \
	    >$(FUZZ_DIR)/$(t).log 2>&1 || { fail=1; tail -n 30 $(FUZZ_DIR)/$(t).log; }; \
	execs=$$(sed -n 's/^stat::number_of_executed_units: *//p' $(FUZZ_DIR)/$(t).log); \
	echo "   $(t): $${execs:-?} executions in $$(( $$(date +%s) - start )) s, corpus $$(ls $(FUZZ_DIR)/corpus/$(t) | wc -l) inputs";) \
	exit $$fail

# For `make test`: the fuzz targets and their seeds, and the runner.
TEST_RUNNERS += tests/fuzz-tests.sh
test: fuzz-build

.PHONY: fuzz fuzz-build
