# otlp.mk - what tests/otlp-tests.sh needs besides the build: Node.js with npm (as the
# flame tests install them, tests/flame.mk) and the npm package whose generated decoder
# the receiver uses, @opentelemetry/otlp-transformer (tests/otlp/package-lock.json),
# installed with `npm ci` into $(BUILD)/tests/otlp-node. Included by the top-level
# Makefile before tests/tests.mk, which adds TEST_OTLP_DEPS to what `make test` builds
# and tests/otlp-tests.sh to its runners.
#
#   make test-otlp          the deps, then tests/otlp-tests.sh ($(TEST_OTLP_ARGS))
#   make test-otlp-deps     only the deps
#
# Only names starting with test-otlp/TEST_OTLP_ are defined here.

TEST_OTLP_SAVED_GOAL := $(.DEFAULT_GOAL)

BUILD ?= build
TEST_OTLP_NODE := $(BUILD)/tests/otlp-node
TEST_OTLP_ARGS ?=
TEST_OTLP_PROGS := $(BUILD)/tests/progs/marker $(BUILD)/tests/progs/svc_cache

# npm ci: exactly the locked versions, and no install scripts. Node and npm come with the
# flame tests' Debian packages when the machine has none of its own.
$(TEST_OTLP_NODE)/.ok: tests/otlp/package.json tests/otlp/package-lock.json \
                       $(BUILD)/tests/.flame-debs-ok
	@echo "  NPM CI  $(TEST_OTLP_NODE)"
	$(Q)mkdir -p $(TEST_OTLP_NODE)
	$(Q)cp tests/otlp/package.json tests/otlp/package-lock.json $(TEST_OTLP_NODE)/
	$(Q)cd $(TEST_OTLP_NODE) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error \
	    >/dev/null
	$(Q)touch $@

TEST_OTLP_DEPS := $(TEST_OTLP_NODE)/.ok

test-otlp-deps: $(TEST_OTLP_DEPS)

test-otlp: all $(TEST_OTLP_DEPS) $(TEST_OTLP_PROGS)
	$(Q)HEAPSPAN='$(BUILD)/heapspan' SHIM='$(BUILD)/libheapspan.so' \
	    PROGS='$(BUILD)/tests/progs' OTLP_NODE='$(TEST_OTLP_NODE)' \
	    tests/otlp-tests.sh $(TEST_OTLP_ARGS)

.PHONY: test-otlp test-otlp-deps

.DEFAULT_GOAL := $(TEST_OTLP_SAVED_GOAL)
