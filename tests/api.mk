# api.mk - the programs tests/api-tests.sh runs: include/heapspan.h's pool program, the
# Rust program with an allocator of its own (bare and wrapped in bindings/rust's
# Tracked), programs that define allocators the shim cannot see, and a static one; the
# header compiled as C and C++ under strict warnings. Included by the top-level
# Makefile, which defines BUILD, CC and `all`; tests/tests.mk runs the script.
#
#   make test-api-progs                build them, into $(BUILD)/tests/progs/
#   make test TEST_ARGS=...            (tests.mk) passes the names to every runner
#
# The Rust crate's own tests run offline with cargo, its home and target under
# $(BUILD) (nothing is written outside the tree): tests/api-tests.sh rust_crate.
# Only names starting with test-api/TEST_API_ are defined here.

TEST_API_SAVED_GOAL := $(.DEFAULT_GOAL)

BUILD ?= build
CXX ?= g++
TEST_API_DIR := $(BUILD)/tests/progs
TEST_API_SRC := tests/progs
TEST_API_RUSTC ?= rustc

# As tests/tests.mk's: exact counts and lines must not change with the user's CFLAGS.
TEST_API_CFLAGS := -std=gnu11 -O2 -g -fno-omit-frame-pointer -D_GNU_SOURCE -Wall -Wextra -I.
# The header under every warning a careful project turns on, in C and C++.
TEST_API_STRICT_C := -O2 -Wall -Wextra -Werror -Wpedantic -Wshadow -Wstrict-prototypes \
                     -Wmissing-prototypes -Wcast-qual -Wconversion -I.
TEST_API_STRICT_CXX := -O2 -Wall -Wextra -Werror -Wpedantic -Wold-style-cast -Wuseless-cast \
                       -Wzero-as-null-pointer-constant -I.
# The crate as the test programs link it, optimized as a release build would be; the
# programs at -O0, like tests/report.mk's Rust program: every frame is a real one.
TEST_API_RUSTFLAGS := --edition 2021 -g -C opt-level=0

TEST_API_C := $(addprefix $(TEST_API_DIR)/,api_pool api_twice api_bracket fake_allocs own_malloc)
TEST_API_STATIC := $(TEST_API_DIR)/static_prog
TEST_API_HEADER := $(addprefix $(TEST_API_DIR)/,api_header_c99.o api_header_c11.o \
                     api_header_cxx98.o api_header_cxx17.o api_header_disabled.o)
TEST_API_RLIB := $(TEST_API_DIR)/libheapspan_alloc.rlib
TEST_API_RUST := $(TEST_API_DIR)/rust_bump $(TEST_API_DIR)/rust_bump_tracked
TEST_API_PROGS := $(TEST_API_C) $(TEST_API_STATIC) $(TEST_API_HEADER) $(TEST_API_RUST)

TEST_API_V := $(filter 1,$(V))
TEST_API_Q := $(if $(TEST_API_V),,@)

test-api-progs: $(TEST_API_PROGS)

$(TEST_API_C): $(TEST_API_DIR)/%: $(TEST_API_SRC)/%.c include/heapspan.h
	@mkdir -p $(dir $@)
	@$(if $(TEST_API_V),,echo "  CC      $@")
	$(TEST_API_Q)$(CC) $(TEST_API_CFLAGS) -o $@ $<

# glibc's static libc (libc6-dev): no program interpreter, nothing to preload into.
$(TEST_API_STATIC): $(TEST_API_SRC)/static_prog.c
	@mkdir -p $(dir $@)
	@$(if $(TEST_API_V),,echo "  CC      $@ (static)")
	$(TEST_API_Q)$(CC) $(TEST_API_CFLAGS) -static -o $@ $<

$(TEST_API_DIR)/api_header_c99.o: $(TEST_API_SRC)/api_header.c include/heapspan.h
	@mkdir -p $(dir $@)
	$(TEST_API_Q)$(CC) -std=c99 $(TEST_API_STRICT_C) -c -o $@ $<

$(TEST_API_DIR)/api_header_c11.o: $(TEST_API_SRC)/api_header.c include/heapspan.h
	@mkdir -p $(dir $@)
	$(TEST_API_Q)$(CC) -std=c11 -O0 $(TEST_API_STRICT_C) -c -o $@ $<

$(TEST_API_DIR)/api_header_cxx98.o: $(TEST_API_SRC)/api_header.c include/heapspan.h
	@mkdir -p $(dir $@)
	$(TEST_API_Q)$(CXX) -x c++ -std=c++98 -O2 -Wall -Wextra -Werror -I. -c -o $@ $<

$(TEST_API_DIR)/api_header_cxx17.o: $(TEST_API_SRC)/api_header.c include/heapspan.h
	@mkdir -p $(dir $@)
	$(TEST_API_Q)$(CXX) -x c++ -std=c++17 $(TEST_API_STRICT_CXX) -c -o $@ $<

$(TEST_API_DIR)/api_header_disabled.o: $(TEST_API_SRC)/api_header.c include/heapspan.h
	@mkdir -p $(dir $@)
	$(TEST_API_Q)$(CC) -std=c99 -DHEAPSPAN_DISABLE $(TEST_API_STRICT_C) -c -o $@ $<

# rustc comes from tests/report.mk's rule (Debian's package when the machine has none).
$(TEST_API_RLIB): bindings/rust/heapspan-alloc/src/lib.rs $(TEST_API_DIR)/.rustc-ok
	@$(if $(TEST_API_V),,echo "  RUSTC   $@")
	$(TEST_API_Q)$(TEST_API_RUSTC) --edition 2021 -g -C opt-level=2 --crate-type rlib \
		--crate-name heapspan_alloc -o $@ $<

$(TEST_API_DIR)/rust_bump: $(TEST_API_SRC)/rust_bump.rs $(TEST_API_DIR)/.rustc-ok
	@$(if $(TEST_API_V),,echo "  RUSTC   $@")
	$(TEST_API_Q)$(TEST_API_RUSTC) $(TEST_API_RUSTFLAGS) --crate-name rust_bump -o $@ $<

$(TEST_API_DIR)/rust_bump_tracked: $(TEST_API_SRC)/rust_bump.rs $(TEST_API_RLIB)
	@$(if $(TEST_API_V),,echo "  RUSTC   $@")
	$(TEST_API_Q)$(TEST_API_RUSTC) $(TEST_API_RUSTFLAGS) --cfg tracked --crate-name rust_bump \
		--extern heapspan_alloc=$(TEST_API_RLIB) -o $@ $<

.PHONY: test-api-progs

.DEFAULT_GOAL := $(TEST_API_SAVED_GOAL)
