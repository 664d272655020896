/* retain: allocates M 96-byte "mostly empty" nodes (only 2 of 12 words
 * set, the rest zero) from 3 call sites, linked in one list.  Frees every
 * second node, then drops the list: the other half is leaked on purpose.
 * usage: retain [M=2000000]                                           */
#include <stdio.h>
#include <string.h>

#include "common.h"

struct node {
    struct node *next;
    long id;
    char unused[80]; /* never written: stays zero */
};                   /* 96 bytes */

__attribute__((noinline)) static struct node *make_calloc(long id)
{
    struct node *n = calloc(1, sizeof *n);
    n->id = id;
    return n;
}

/* Note: GCC turns this malloc+memset into a calloc call. */
__attribute__((noinline)) static struct node *make_malloc_memset(long id)
{
    struct node *n = malloc(sizeof *n);
    memset(n, 0, sizeof *n);
    n->id = id;
    return n;
}

__attribute__((noinline)) static struct node *make_malloc_init(long id)
{
    struct node *n = malloc(sizeof *n);
    *n = (struct node){ .id = id };
    return n;
}

int main(int argc, char **argv)
{
    long m = arg_long(argc, argv, 1, 2000000);
    struct node *head = NULL;
    for (long i = 0; i < m; i++) { /* newest first */
        struct node *n = i % 3 == 0   ? make_calloc(i)
                         : i % 3 == 1 ? make_malloc_memset(i)
                                      : make_malloc_init(i);
        n->next = head;
        head = n;
    }
    long freed = 0;
    for (struct node *n = head; n; n = n->next) { /* free odd ids */
        while (n->next && (n->next->id & 1)) {
            struct node *dead = n->next;
            n->next = dead->next;
            free(dead);
            freed++;
        }
    }
    if (head && (head->id & 1)) {
        struct node *dead = head;
        head = head->next;
        free(dead);
        freed++;
    }
    long leaked = m - freed;
    head = NULL; /* leak the rest */
    printf("retain: allocs=%ld frees=%ld leaked_blocks=%ld leaked_bytes=%ld maxrss_kb=%ld "
           "cpu_s=%.3f\n",
           m, freed, leaked, leaked * (long)sizeof(struct node), maxrss_kb(), cpu_s());
    return 0;
}
