/*
 * sym_inline.c - test program for test_symbolize.c (C, built with -O2 -g). outer()
 * contains a known two-level inline chain inner -> middle -> outer; make_node() and
 * make_padded() are plain calls in functions that use the two structs whose layout
 * the struct-size test checks (with struct flags and pair_t below).
 */
#include <stdio.h>
#include <stdlib.h>

#include "sym_progs.h"

struct padded { /* 24 bytes: 7-byte hole after a, 7 bytes of tail padding */
    char a;
    long b;
    char c;
};

struct node { /* 96 bytes, no holes */
    struct node *next;
    long id;
    char unused[80];
};

struct flags { /* 16 bytes: bit-fields sharing byte 0, a 6-byte hole after c */
    unsigned a : 3;
    unsigned b : 5;
    char c;
    long d;
};

typedef struct { /* 8 bytes, anonymous: reported under its typedef's name */
    int x;
    char y;
} pair_t;

/* Globals, so that the types are in this compile unit's DWARF whatever gcc optimizes. */
struct flags *flags_sink;
pair_t *pair_sink;

/* Stores after each call keep gcc from turning the calls into jumps (sibcalls), which
 * would leave no return address in the caller. */
static volatile int sink;

/* noipa: a real call with its own return address; gcc may not clone or inline it. */
__attribute__((noipa)) static void record(const char *name, int l0, int l1, int l2)
{
    printf("site %s %lx %d %d %d\n", name, (unsigned long)__builtin_return_address(0), l0, l1, l2);
}

static inline __attribute__((always_inline)) void inner(int middle_line, int outer_line)
{
    record("inline", __LINE__, middle_line, outer_line);
    sink++;
}

static inline __attribute__((always_inline)) void middle(int outer_line)
{
    inner(__LINE__, outer_line);
    sink++;
}

/* Function entry: gcc gives its address the line of the opening brace. */
enum { OUTER_OPEN_LINE = __LINE__ + 2 };
__attribute__((noinline)) void outer(void)
{
    middle(__LINE__);
    sink++;
}

__attribute__((noinline)) struct node *make_node(long id)
{
    struct node *n = calloc(1, sizeof(*n));

    record("make_node", __LINE__, 0, 0);
    if (n != NULL)
        n->id = id;
    return n;
}

__attribute__((noinline)) struct padded *make_padded(char a)
{
    struct padded *p = malloc(sizeof(*p));

    record("make_padded", __LINE__, 0, 0);
    if (p != NULL)
        p->a = p->c = a;
    return p;
}

int main(void)
{
    sym_prog_print_map();
    printf("site outer_entry %lx %d 0 0\n", (unsigned long)(void *)outer, OUTER_OPEN_LINE);
    outer();

    struct node *n = make_node(7);
    struct padded *p = make_padded('x');

    free(n);
    free(p);
    return 0;
}
