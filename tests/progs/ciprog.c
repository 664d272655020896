/*
 * ciprog.c - the program the CI scenario test (tests/diff-tests.sh) builds twice, as a
 * CI job would build a branch's base and its head: as it is (BASE), and with
 * -DCIPROG_LEAK (NEW), which adds leak_more(), 1 MiB allocated last and never freed.
 * The #ifdef lines are in both builds, so every other line keeps its number and every
 * other site matches exactly; tests/diff.mk also builds a copy with five blank lines
 * above everything, whose sites match by function. No stdio, nothing that varies from
 * run to run: two runs record the same numbers.
 *
 *   load_table   64 blocks of 4096 bytes, live until exit (freed by free_table)
 *   parse_all    1000 blocks of 256 bytes, each freed at once (temporary)
 *   keep_some    10 blocks of 5000 bytes, never freed
 *   leak_more    NEW only: 1 MiB, never freed, allocated while the table is live
 */
#include <stdlib.h>
#include <string.h>

#define N_TABLE 64
#define N_PARSE 1000
#define N_KEEP  10

static void *volatile sink;
static void *table[N_TABLE];

void leak_more(void);

__attribute__((noipa)) static void load_table(void)
{
    for (int i = 0; i < N_TABLE; i++) {
        table[i] = malloc(4096);
        memset(table[i], i, 4096);
    }
}

__attribute__((noipa)) static void parse_all(void)
{
    for (int i = 0; i < N_PARSE; i++) {
        char *p = malloc(256);
        memset(p, 'x', 256);
        sink = p;
        free(p);
    }
}

__attribute__((noipa)) static void keep_some(void)
{
    for (int i = 0; i < N_KEEP; i++)
        sink = malloc(5000);
}

__attribute__((noipa)) static void free_table(void)
{
    for (int i = 0; i < N_TABLE; i++)
        free(table[i]);
}

int main(void)
{
    load_table();
    parse_all();
    keep_some();
#ifdef CIPROG_LEAK
    leak_more();
#endif
    free_table();
    return 0;
}

#ifdef CIPROG_LEAK
__attribute__((noipa)) void leak_more(void)
{
    char *p = malloc(1 << 20);
    memset(p, 1, 1 << 20);
    sink = p;
}
#endif
