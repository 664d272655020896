# flame.mk - what tests/flame-tests.sh needs besides the build: Debian's chromium and
# golang-go (go tool pprof), Node.js with npm, and the npm packages of
# tests/browser/package-lock.json (playwright-core to drive Chromium, ajv and
# speedscope's schema), installed with `npm ci` into $(BUILD)/tests/node. Included by the
# top-level Makefile before tests/tests.mk, which adds TEST_FLAME_DEPS to what `make
# test` builds and tests/flame-tests.sh to its runners.
#
#   make test-flame          the deps, then tests/flame-tests.sh ($(TEST_FLAME_ARGS))
#   make test-flame-deps     only the deps
#
# Only names starting with test-flame/TEST_FLAME_ are defined here.

TEST_FLAME_SAVED_GOAL := $(.DEFAULT_GOAL)

BUILD ?= build
TEST_FLAME_NODE := $(BUILD)/tests/node
TEST_FLAME_DEBS := chromium golang-go
TEST_FLAME_ARGS ?=

# As the top-level Makefile's dependencies: installed as root when missing. node and npm
# come from Debian's nodejs and npm when the machine has none of its own.
$(BUILD)/tests/.flame-debs-ok:
	$(Q)mkdir -p $(dir $@)
	$(Q)missing=$$(for p in $(TEST_FLAME_DEBS); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' \
	    || echo $$p; done); \
	command -v node >/dev/null 2>&1 || missing="$$missing nodejs"; \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
	    echo "installing Debian packages for the flame tests:" $$missing; \
	    if [ "$$(id -u)" != 0 ]; then \
	        echo "error: run as root, or install them first: apt-get install" $$missing >&2; \
	        exit 2; fi; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing \
	        >/dev/null || exit 2; fi
	$(Q)touch $@

# npm ci: exactly the locked versions, and no install scripts (playwright-core's would
# not run anyway: the tests use Debian's Chromium, never a downloaded one).
$(TEST_FLAME_NODE)/.ok: tests/browser/package.json tests/browser/package-lock.json \
                        $(BUILD)/tests/.flame-debs-ok
	@echo "  NPM CI  $(TEST_FLAME_NODE)"
	$(Q)mkdir -p $(TEST_FLAME_NODE)
	$(Q)cp tests/browser/package.json tests/browser/package-lock.json $(TEST_FLAME_NODE)/
	$(Q)cd $(TEST_FLAME_NODE) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error \
	    >/dev/null
	$(Q)touch $@

TEST_FLAME_DEPS := $(BUILD)/tests/.flame-debs-ok $(TEST_FLAME_NODE)/.ok

test-flame-deps: $(TEST_FLAME_DEPS)

test-flame: all $(TEST_FLAME_DEPS) $(TEST_REPORT_PROGS) $(TEST_DIFF_PROGS) \
            $(BUILD)/tests/progs/sym_cxx
	$(Q)HEAPSPAN='$(BUILD)/heapspan' SHIM='$(BUILD)/libheapspan.so' \
	    PROGS='$(BUILD)/tests/progs' CI_PROGS='$(BUILD)/tests/ci' \
	    NODE_DIR='$(TEST_FLAME_NODE)' ARTIFACTS='$(BUILD)/tests/artifacts' \
	    tests/flame-tests.sh $(TEST_FLAME_ARGS)

.PHONY: test-flame test-flame-deps

.DEFAULT_GOAL := $(TEST_FLAME_SAVED_GOAL)
