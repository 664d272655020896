/*
 * known_c.c - leaks known by construction, for tests/report-tests.sh (which holds the
 * same numbers). Each allocation call carries a "@name" comment: the runner takes the
 * expected line from it, so editing this file cannot make the two disagree.
 *
 *   site (function)   call         blocks x bytes   leaked      valgrind's kind
 *   @plain            malloc       7 x 1000         all         definitely lost
 *   @zeroed           calloc       5 x (3 x 111)    all         definitely lost
 *   @head             malloc       1 x 48           all         definitely lost
 *   @node             malloc       4 x 40           all         indirectly lost
 *   @kept             malloc       3 x 2000         all         still reachable
 *   @inside           malloc       1 x 512          all         possibly lost
 *   @grow             realloc      10->100->1000->5000, the last one leaked
 *   @churn            malloc       100 x 64         none        (temporaries)
 *
 * Leaked: 7000 + 1665 + 48 + 160 + 6000 + 512 + 5000 = 20385 bytes in 22 blocks.
 *
 * No stdio, nor any other call that makes libc allocate for itself: under valgrind,
 * libc's own blocks (a stdio buffer) are freed at exit by __libc_freeres, under
 * heapspan they are live at exit, and the two totals would differ by them.
 */
#include <stdlib.h>

/* gcc -O2 deletes allocations whose pointer never escapes (bench/workloads/common.h). */
static void *volatile sink;
#define ESCAPE(p) (sink = (void *)(p))

/* Found by valgrind's leak check: start pointers (still reachable), and a pointer into
 * the middle of a block (possibly lost). volatile: gcc deletes the stores to a static
 * that is never read, and then the allocations. */
static void *volatile kept[3];
static char *volatile inside;

struct node {
    struct node *next;
    char payload[32];
};

/* noipa: a real call, never inlined or cloned, so each site is its own function. */
__attribute__((noipa)) static void leak_plain(void)
{
    for (int i = 0; i < 7; i++)
        ESCAPE(malloc(1000)); /* @plain */
}

__attribute__((noipa)) static void leak_zeroed(void)
{
    for (int i = 0; i < 5; i++)
        ESCAPE(calloc(3, 111)); /* @zeroed */
}

__attribute__((noipa)) static struct node *list_node(struct node *next)
{
    struct node *n = malloc(sizeof(*n)); /* @node */

    if (n != NULL)
        n->next = next;
    return n;
}

/* A 48-byte head holding a 4-node list; the head's pointer is dropped, so valgrind
 * calls the head definitely lost and the nodes indirectly lost. */
__attribute__((noipa)) static void leak_list(void)
{
    struct node *first = NULL;
    void **head = malloc(48); /* @head */

    for (int i = 0; i < 4; i++)
        first = list_node(first);
    if (head != NULL)
        head[0] = first;
    ESCAPE(head);
    ESCAPE(NULL);
}

__attribute__((noipa)) static void keep_reachable(void)
{
    for (int i = 0; i < 3; i++)
        kept[i] = malloc(2000); /* @kept */
}

__attribute__((noipa)) static void keep_inside(void)
{
    char *p = malloc(512); /* @inside */

    inside = p != NULL ? p + 16 : NULL;
}

/* gcc folds realloc(NULL, n) into malloc(n): hide the null from it. */
static void *volatile null_block;

__attribute__((noipa)) static void leak_grown(void)
{
    static const size_t sizes[] = { 10, 100, 1000, 5000 };
    void *p = null_block;

    for (int i = 0; i < 4; i++)
        p = realloc(p, sizes[i]); /* @grow */
    ESCAPE(p);
}

__attribute__((noipa)) static void churn(void)
{
    for (int i = 0; i < 100; i++) {
        void *p = malloc(64); /* @churn */
        ESCAPE(p);
        free(p);
    }
}

int main(void)
{
    leak_plain();
    leak_zeroed();
    leak_list();
    keep_reachable();
    keep_inside();
    leak_grown();
    churn();
    ESCAPE(NULL);
    return 0;
}
