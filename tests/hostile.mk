# hostile.mk - the logs made to hurt the analyzer (tests/lib/mklog.c) and the runner that
# reports on them (tests/hostile-tests.sh), part of `make test`. Included by the
# top-level Makefile after tests/tests.mk, whose TEST_RUNNERS it adds to.
#
#   make test-hostile                  build mklog, then run tests/hostile-tests.sh

TEST_MKLOG := $(BUILD)/tests/mklog
TEST_MKLOG_SRCS := tests/lib/mklog.c tests/lib/logbuild.c format/evcodec.c format/logfmt.c

$(TEST_MKLOG): $(TEST_MKLOG_SRCS) tests/lib/logbuild.h $(wildcard format/*.h) $(BUILD)/.deps-ok
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(HS_CFLAGS) $(CFLAGS) -o $@ $(TEST_MKLOG_SRCS) -lzstd

TEST_RUNNERS += tests/hostile-tests.sh
test: $(TEST_MKLOG)

test-hostile: all $(TEST_MKLOG)
	$(Q)HEAPSPAN='$(BUILD)/heapspan' MKLOG='$(TEST_MKLOG)' tests/hostile-tests.sh

.PHONY: test-hostile
