# diff.mk - what tests/diff-tests.sh runs: the CI scenario's program built three ways,
# the service and the RSS programs. Included by the top-level Makefile, before
# tests/tests.mk, which adds TEST_DIFF_PROGS to what `make test` builds and
# tests/diff-tests.sh to its runners.
#
#   make test-diff-progs     build them
#
# Only names starting with test-diff/TEST_DIFF_ are defined here.

TEST_DIFF_SAVED_GOAL := $(.DEFAULT_GOAL)

BUILD ?= build
TEST_DIFF_CI := $(BUILD)/tests/ci
# The flags of tests/tests.mk's programs, fixed for the same reasons.
TEST_DIFF_CFLAGS := -std=gnu11 -O2 -g -fno-omit-frame-pointer -D_GNU_SOURCE -Wall -Wextra \
                    -pthread

# ciprog as a CI job builds a base and a head: the same file name in two directories,
# the same executable name. NEW adds a leaking function (-DCIPROG_LEAK); MOVED is BASE
# with five blank lines above everything, so that every line number moves.
TEST_DIFF_CIPROGS := $(TEST_DIFF_CI)/base/ciprog $(TEST_DIFF_CI)/new/ciprog \
                     $(TEST_DIFF_CI)/moved/ciprog
TEST_DIFF_PROGS := $(TEST_DIFF_CIPROGS) $(BUILD)/tests/progs/svc_cache \
                   $(BUILD)/tests/progs/rss_grow

$(TEST_DIFF_CI)/base/ciprog.c $(TEST_DIFF_CI)/new/ciprog.c: tests/progs/ciprog.c
	@mkdir -p $(dir $@)
	$(Q)cp $< $@

$(TEST_DIFF_CI)/moved/ciprog.c: tests/progs/ciprog.c
	@mkdir -p $(dir $@)
	$(Q){ printf '\n\n\n\n\n'; cat $<; } >$@

$(TEST_DIFF_CI)/%/ciprog: $(TEST_DIFF_CI)/%/ciprog.c
	@echo "  CC      $@"
	$(Q)$(CC) $(TEST_DIFF_CFLAGS) $(if $(filter new,$*),-DCIPROG_LEAK) -o $@ $<

$(BUILD)/tests/progs/svc_cache $(BUILD)/tests/progs/rss_grow: $(BUILD)/tests/progs/%: \
                                                                tests/progs/%.c tests/progs/ready.h
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(TEST_DIFF_CFLAGS) -o $@ $<

test-diff-progs: $(TEST_DIFF_PROGS)

.PHONY: test-diff-progs
.SECONDARY: $(TEST_DIFF_CI)/base/ciprog.c $(TEST_DIFF_CI)/new/ciprog.c $(TEST_DIFF_CI)/moved/ciprog.c

.DEFAULT_GOAL := $(TEST_DIFF_SAVED_GOAL)
