/* pools.c - see pools.h. */
#include "analyzer/pools.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/liveset.h"
#include "util/hashmap.h"

#define NIL UINT32_MAX

/* A live block of a pool. Its size and weight are in the live map, whose `stack` field
 * holds the node's index. A block keeps the group (name) its pool had when it was
 * allocated. */
struct node {
    uint64_t addr;
    uint32_t inst, group;
    uint32_t prev, next; /* in its pool's list; next links free nodes too */
};

/* A pool handle's current state: the blocks under it, and the name it bears now. */
struct inst {
    uint64_t handle;
    uint32_t group;
    uint32_t head; /* of its blocks' list */
    bool named;    /* else counted among the unnamed pools */
};

struct group {
    char *name;
    struct model_pool st;
    double live_bytes, live_blocks;
};

struct inst_entry {
    uint64_t handle;
    uint32_t idx; /* UINT32_MAX: none (memory ran out while making it) */
};

struct group_entry {
    const char *name; /* the group's own copy */
    uint32_t idx;
};

struct pl_tracker {
    struct pl_head head; /* first: pools.h reads it through the handle */
    uint64_t sample_bytes;
    struct ls_map *live;
    struct node *nodes;
    uint32_t n_nodes, cap_nodes, free_nodes;
    struct inst *insts;
    uint32_t n_insts, cap_insts;
    struct hmap by_handle; /* of struct inst_entry */
    struct group *groups;
    uint32_t n_groups, cap_groups;
    struct hmap by_name; /* of struct group_entry */
    double api_allocations;
    /* The frees of the last reset, handed out one by one. */
    uint64_t *queue;
    uint32_t n_queue, cap_queue, next_queue;
    uint64_t q_time, q_pool;
    uint32_t q_tid;
    struct model_pool *out; /* pl_pools' result */
};

struct pl_tracker *pl_new(uint64_t sample_bytes)
{
    struct pl_tracker *t = calloc(1, sizeof(*t));

    if (t == NULL)
        return NULL;
    t->sample_bytes = sample_bytes;
    t->free_nodes = NIL;
    hmap_init(&t->by_handle, sizeof(struct inst_entry));
    hmap_init(&t->by_name, sizeof(struct group_entry));
    t->live = ls_new();
    if (t->live == NULL) {
        pl_free(t);
        return NULL;
    }
    return t;
}

/* Blocks one recorded block stands for: as the aggregate weighs them (aggregate.h), to
 * the same float, so that what a free takes away is what the allocation added. */
static double weight_of(const struct pl_tracker *t, uint64_t size)
{
    if (t->sample_bytes <= 1 || size == 0)
        return 1.0;
    double p = -expm1(-(double)size / (double)t->sample_bytes);
    return (float)(p > 0 ? 1.0 / p : 1.0);
}

static int grow(void **v, uint32_t *cap, uint32_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    uint32_t c = *cap ? *cap * 2 : 64;
    while (c < need)
        c *= 2;
    void *g = realloc(*v, (size_t)c * size);
    if (g == NULL)
        return -ENOMEM;
    *v = g;
    *cap = c;
    return 0;
}

static bool name_eq(const void *entry, const void *key)
{
    return !strcmp(((const struct group_entry *)entry)->name, key);
}

/* The group of name ("" for unnamed pools): its index, or -ENOMEM. */
static int group_of(struct pl_tracker *t, const char *name)
{
    const struct group_entry *known = hmap_get(&t->by_name, hmap_hash_str(name), name, name_eq);
    bool added;

    if (known != NULL)
        return (int)known->idx;
    if (grow((void **)&t->groups, &t->cap_groups, t->n_groups + 1, sizeof(*t->groups)) < 0)
        return -ENOMEM;
    char *copy = strdup(name);
    if (copy == NULL)
        return -ENOMEM;
    struct group_entry *e = hmap_put(&t->by_name, hmap_hash_str(copy), copy, name_eq, &added);
    if (e == NULL) {
        free(copy);
        return -ENOMEM;
    }
    e->name = copy;
    e->idx = t->n_groups;
    struct group *g = &t->groups[t->n_groups++];
    memset(g, 0, sizeof(*g));
    g->name = copy;
    g->st.name = copy;
    return (int)e->idx;
}

static bool handle_eq(const void *entry, const void *key)
{
    return ((const struct inst_entry *)entry)->handle == *(const uint64_t *)key;
}

/* The pool with this handle, made (unnamed) on first sight if make: its index,
 * -ENOENT (not made), or -ENOMEM. */
static int inst_of(struct pl_tracker *t, uint64_t handle, bool make)
{
    bool added;
    struct inst_entry *e;

    if (!make) {
        e = hmap_get(&t->by_handle, handle, &handle, handle_eq);
        return e != NULL && e->idx != UINT32_MAX ? (int)e->idx : -ENOENT;
    }
    e = hmap_put(&t->by_handle, handle, &handle, handle_eq, &added);
    if (e == NULL)
        return -ENOMEM;
    if (added) {
        e->handle = handle;
        e->idx = UINT32_MAX;
    }
    if (e->idx != UINT32_MAX)
        return (int)e->idx;
    int g = group_of(t, "");
    if (g < 0 || grow((void **)&t->insts, &t->cap_insts, t->n_insts + 1, sizeof(*t->insts)) < 0)
        return -ENOMEM;
    t->insts[t->n_insts] = (struct inst){ handle, (uint32_t)g, NIL, false };
    t->groups[g].st.pools++;
    e->idx = t->n_insts++;
    return (int)e->idx;
}

static void unlink_node(struct pl_tracker *t, uint32_t n)
{
    struct node *x = &t->nodes[n];
    if (x->prev != NIL)
        t->nodes[x->prev].next = x->next;
    else
        t->insts[x->inst].head = x->next;
    if (x->next != NIL)
        t->nodes[x->next].prev = x->prev;
    x->next = t->free_nodes;
    t->free_nodes = n;
}

/* The live block b (just taken from the map) leaves its pool; reset says how. */
static void release(struct pl_tracker *t, const struct ls_block *b, bool reset)
{
    struct node *x = &t->nodes[b->stack];
    struct group *g = &t->groups[x->group];
    g->live_bytes -= (double)b->size * b->weight;
    g->live_blocks -= b->weight;
    if (reset)
        g->st.reset_frees += b->weight;
    else
        g->st.frees += b->weight;
    unlink_node(t, b->stack);
    t->head.live--;
}

static int add_block(struct pl_tracker *t, const struct lf_event *e, double w)
{
    int i = inst_of(t, e->pool, true);
    if (i < 0)
        return i;
    uint32_t n = t->free_nodes;
    if (n != NIL) {
        t->free_nodes = t->nodes[n].next;
    } else {
        if (grow((void **)&t->nodes, &t->cap_nodes, t->n_nodes + 1, sizeof(*t->nodes)) < 0)
            return -ENOMEM;
        n = t->n_nodes++;
    }
    struct ls_block b = { e->addr, e->size, n, (float)w };
    if (ls_put(t->live, &b, NULL) < 0) {
        t->nodes[n].next = t->free_nodes;
        t->free_nodes = n;
        return -ENOMEM;
    }
    struct inst *in = &t->insts[i];
    struct group *g = &t->groups[in->group];
    t->nodes[n] = (struct node){ e->addr, (uint32_t)i, in->group, NIL, in->head };
    if (in->head != NIL)
        t->nodes[in->head].prev = n;
    in->head = n;
    t->head.live++;
    g->st.allocations += w;
    g->st.allocated_bytes += (double)e->size * w;
    g->live_bytes += (double)e->size * w;
    g->live_blocks += w;
    if (g->live_bytes > g->st.peak_live_bytes)
        g->st.peak_live_bytes = g->live_bytes;
    return 0;
}

static int on_event(struct pl_tracker *t, const struct lf_event *e)
{
    struct ls_block b;

    if (e->type != LF_EV_ALLOC && e->type != LF_EV_FREE)
        return 0;
    /* A free, or a new block where one of a pool was (its free was lost). */
    if (t->head.live > 0 && ls_take(t->live, e->addr, &b))
        release(t, &b, false);
    if (e->type != LF_EV_ALLOC || e->fn != LF_FN_API)
        return 0;
    double w = weight_of(t, e->size);
    t->api_allocations += w;
    return e->pool != 0 ? add_block(t, e, w) : 0;
}

/* Every live block of the pool is queued as a free, newest first. */
static int on_reset(struct pl_tracker *t, struct rd_item *it)
{
    int i = inst_of(t, it->pool, false);
    struct ls_block b;

    it->count = 0;
    if (i < 0)
        return 0;
    struct inst *in = &t->insts[i];
    t->groups[in->group].st.resets++;
    t->n_queue = t->next_queue = 0;
    t->q_time = it->time;
    t->q_tid = it->tid;
    t->q_pool = it->pool;
    while (in->head != NIL) {
        uint64_t addr = t->nodes[in->head].addr;
        if (grow((void **)&t->queue, &t->cap_queue, t->n_queue + 1, sizeof(*t->queue)) < 0)
            return -ENOMEM;
        if (!ls_take(t->live, addr, &b)) { /* cannot be: every node is in the map */
            unlink_node(t, in->head);
            continue;
        }
        release(t, &b, true);
        t->queue[t->n_queue++] = addr;
    }
    it->count = t->n_queue;
    t->head.queued = t->n_queue;
    return 0;
}

static int on_name(struct pl_tracker *t, const struct rd_item *it)
{
    int i = inst_of(t, it->pool, true);
    if (i < 0)
        return i;
    int g = group_of(t, it->text != NULL ? it->text : "");
    if (g < 0)
        return g;
    struct inst *in = &t->insts[i];
    /* Each name given starts a pool of that name. A pool named before its first block,
     * the common case, was just made unnamed: it is this name's, not an unnamed one. */
    if (!in->named)
        t->groups[in->group].st.pools--;
    t->groups[g].st.pools++;
    in->group = (uint32_t)g;
    in->named = true;
    return 0;
}

int pl_feed(struct pl_tracker *t, struct rd_item *it)
{
    if (it->kind == RD_EVENT)
        return on_event(t, &it->ev);
    if (it->kind != RD_POOL)
        return 0;
    if (it->pool_op == LF_POOL_RESET)
        return on_reset(t, it);
    if (it->pool_op == LF_POOL_NAME)
        return on_name(t, it);
    return 0; /* an op from a newer writer */
}

bool pl_next_free(struct pl_tracker *t, struct rd_item *out)
{
    if (t == NULL || t->next_queue >= t->n_queue)
        return false;
    t->head.queued = t->n_queue - t->next_queue - 1;
    memset(out, 0, sizeof(*out));
    out->kind = RD_EVENT;
    out->time = t->q_time;
    out->tid = t->q_tid;
    out->ev.type = LF_EV_FREE;
    out->ev.fn = LF_FN_API;
    out->ev.time = out->ev.time_before = t->q_time;
    out->ev.addr = out->ev.old_addr = t->queue[t->next_queue++];
    out->ev.pool = t->q_pool;
    return true;
}

double pl_api_allocations(const struct pl_tracker *t)
{
    return t != NULL ? t->api_allocations : 0;
}

static int pool_cmp(const void *pa, const void *pb)
{
    const struct model_pool *a = pa, *b = pb;
    if (a->allocated_bytes != b->allocated_bytes)
        return a->allocated_bytes > b->allocated_bytes ? -1 : 1;
    return strcmp(a->name, b->name);
}

const struct model_pool *pl_pools(struct pl_tracker *t, int *n)
{
    *n = 0;
    if (t == NULL || t->n_groups == 0)
        return NULL;
    free(t->out);
    t->out = malloc(t->n_groups * sizeof(*t->out));
    if (t->out == NULL) {
        *n = -1;
        return NULL;
    }
    int k = 0;
    for (uint32_t i = 0; i < t->n_groups; i++) {
        const struct group *g = &t->groups[i];
        if (g->st.pools == 0 && g->st.allocations == 0)
            continue; /* the unnamed group, when every pool got a name */
        t->out[k] = g->st;
        t->out[k].leaked_bytes = g->live_bytes;
        t->out[k].leaked_allocations = g->live_blocks;
        k++;
    }
    qsort(t->out, (size_t)k, sizeof(*t->out), pool_cmp);
    *n = k;
    return k > 0 ? t->out : NULL;
}

void pl_free(struct pl_tracker *t)
{
    if (t == NULL)
        return;
    ls_free(t->live);
    free(t->nodes);
    free(t->insts);
    hmap_fini(&t->by_handle);
    for (uint32_t i = 0; i < t->n_groups; i++)
        free(t->groups[i].name);
    free(t->groups);
    hmap_fini(&t->by_name);
    free(t->queue);
    free(t->out);
    free(t);
}
