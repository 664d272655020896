/* otlp.c - a model as an OTLP trace (see otlp.h; the span model is docs/otlp.md).
 * Field numbers are opentelemetry-proto's trace/v1/trace.proto, common/v1/common.proto,
 * resource/v1/resource.proto and collector/trace/v1/trace_service.proto. */
#include "viz/otlp.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/escape.h"
#include "util/json.h"
#include "util/pbuf.h"
#include "viz/fmt.h"
#include "viz/rank.h"

#ifndef HEAPSPAN_VERSION
#define HEAPSPAN_VERSION "0.1.0"
#endif

/* Protobuf field numbers. */
enum {
    REQ_RESOURCE_SPANS = 1,
    RS_RESOURCE = 1,
    RS_SCOPE_SPANS = 2,
    RES_ATTRIBUTES = 1,
    SS_SCOPE = 1,
    SS_SPANS = 2,
    SCOPE_NAME = 1,
    SCOPE_VERSION = 2,
    SPAN_TRACE_ID = 1,
    SPAN_SPAN_ID = 2,
    SPAN_TRACE_STATE = 3,
    SPAN_PARENT_SPAN_ID = 4,
    SPAN_NAME = 5,
    SPAN_KIND = 6,
    SPAN_START = 7,
    SPAN_END = 8,
    SPAN_ATTRIBUTES = 9,
    SPAN_STATUS = 15,
    STATUS_MESSAGE = 2,
    STATUS_CODE = 3,
    KV_KEY = 1,
    KV_VALUE = 2,
    AV_STRING = 1,
    AV_BOOL = 2,
    AV_INT = 3,
    AV_DOUBLE = 4,
    AV_ARRAY = 5,
    ARRAY_VALUES = 1,
};

#define SPAN_KIND_INTERNAL 1

static const char *const span_names[] = { "heap.process", "heap.interval", "heap.leak",
                                          "heap.bloat" };

const char *otlp_span_name(enum otlp_span_kind kind)
{
    return span_names[kind];
}

void otlp_init(struct otlp_trace *t)
{
    memset(t, 0, sizeof(*t));
}

static void attrs_fini(struct otlp_attrs *a)
{
    for (int i = 0; i < a->n; i++) {
        free(a->a[i].key);
        free(a->a[i].s);
        for (int k = 0; k < a->a[i].n_strings; k++)
            free(a->a[i].strings[k]);
        free(a->a[i].strings);
    }
    free(a->a);
}

void otlp_fini(struct otlp_trace *t)
{
    attrs_fini(&t->resource);
    for (int i = 0; i < t->n_spans; i++) {
        attrs_fini(&t->spans[i].attrs);
        free(t->spans[i].status_message);
    }
    free(t->spans);
    free(t->trace_state);
    memset(t, 0, sizeof(*t));
}

/* ---- ids ---- */

/* FNV-1a over the bytes, then splitmix64's finalizer: every input bit reaches every
 * output bit, so ids of neighbouring indexes share no visible pattern. */
static uint64_t hash64(uint64_t seed, const void *data, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= ((const uint8_t *)data)[i];
        h *= 0x100000001b3ull;
    }
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}

void otlp_trace_id(uint32_t pid, uint64_t start_unix_ns, const char *exe, uint8_t out[16])
{
    uint8_t in[12 + 4096];
    size_t n = strlen(exe);
    if (n > 4096)
        n = 4096;
    for (int i = 0; i < 4; i++)
        in[i] = (uint8_t)(pid >> (8 * i));
    for (int i = 0; i < 8; i++)
        in[4 + i] = (uint8_t)(start_unix_ns >> (8 * i));
    memcpy(in + 12, exe, n);
    uint64_t hi = hash64(0x68656170u, in, 12 + n), lo = hash64(0x7370616eu, in, 12 + n);
    if (hi == 0 && lo == 0)
        lo = 1;
    put_be64(out, hi);
    put_be64(out + 8, lo);
}

void otlp_span_id(const uint8_t identity[16], enum otlp_span_kind kind, uint32_t index,
                  uint8_t out[8])
{
    uint8_t in[24];
    memcpy(in, identity, 16);
    for (int i = 0; i < 4; i++) {
        in[16 + i] = (uint8_t)((uint32_t)kind >> (8 * i));
        in[20 + i] = (uint8_t)(index >> (8 * i));
    }
    uint64_t h = hash64(0x6964u, in, sizeof(in));
    put_be64(out, h != 0 ? h : 1);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1; /* W3C: lowercase only */
}

static bool parse_hex(const char *s, uint8_t *out, size_t n)
{
    bool nonzero = false;
    for (size_t i = 0; i < n; i++) {
        int h = hexval(s[2 * i]), l = hexval(s[2 * i + 1]);
        if (h < 0 || l < 0)
            return false;
        out[i] = (uint8_t)(h << 4 | l);
        nonzero |= out[i] != 0;
    }
    return nonzero;
}

bool otlp_parse_traceparent(const char *s, uint8_t trace_id[16], uint8_t span_id[8])
{
    uint8_t version, flags;
    /* version(2) - trace-id(32) - parent-id(16) - flags(2) = 55 characters */
    if (s == NULL || strlen(s) < 55 || s[2] != '-' || s[35] != '-' || s[52] != '-')
        return false;
    if (hexval(s[0]) < 0 || hexval(s[1]) < 0)
        return false;
    version = (uint8_t)(hexval(s[0]) << 4 | hexval(s[1]));
    if (version == 0xff || (version == 0 && s[55] != '\0') ||
        (version > 0 && s[55] != '\0' && s[55] != '-'))
        return false;
    if (hexval(s[53]) < 0 || hexval(s[54]) < 0)
        return false;
    flags = (uint8_t)(hexval(s[53]) << 4 | hexval(s[54]));
    (void)flags;
    return parse_hex(s + 3, trace_id, 16) && parse_hex(s + 36, span_id, 8);
}

/* ---- building ---- */

/* s with each byte that is not part of valid UTF-8 replaced by U+FFFD; malloc'd. */
static char *utf8_dup(const char *s)
{
    size_t n = strlen(s), o = 0;
    char *out = malloc(n * 3 + 1);
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n;) {
        int k = esc_utf8_len((const unsigned char *)s + i, n - i);
        if (k > 0) {
            memcpy(out + o, s + i, (size_t)k);
            o += (size_t)k;
            i += (size_t)k;
        } else {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        }
    }
    out[o] = '\0';
    return out;
}

static char *tdup(struct otlp_trace *t, const char *s)
{
    if (t->err)
        return NULL;
    char *d = utf8_dup(s != NULL ? s : "");
    if (d == NULL)
        t->err = -ENOMEM;
    return d;
}

void otlp_set_ids(struct otlp_trace *t, const uint8_t identity[16], const uint8_t *parent_trace,
                  const uint8_t *parent_span, const char *trace_state)
{
    memcpy(t->identity_id, identity, 16);
    memcpy(t->trace_id, parent_trace != NULL ? parent_trace : identity, 16);
    (void)parent_span; /* the root's parent: otlp_add_span reads it from here */
    if (parent_trace != NULL && parent_span != NULL) {
        t->root_parent_set = true;
        memcpy(t->root_parent, parent_span, 8);
    }
    if (trace_state != NULL && trace_state[0] != '\0')
        t->trace_state = tdup(t, trace_state);
}

static struct otlp_attr *attr_new(struct otlp_trace *t, struct otlp_attrs *a, const char *key,
                                  enum otlp_type type)
{
    if (t->err)
        return NULL;
    if (a->n == a->cap) {
        int cap = a->cap ? a->cap * 2 : 16;
        struct otlp_attr *p = realloc(a->a, (size_t)cap * sizeof(*p));
        if (p == NULL) {
            t->err = -ENOMEM;
            return NULL;
        }
        a->a = p;
        a->cap = cap;
    }
    struct otlp_attr *x = &a->a[a->n];
    memset(x, 0, sizeof(*x));
    x->type = type;
    if ((x->key = tdup(t, key)) == NULL)
        return NULL;
    a->n++;
    return x;
}

void otlp_attr_string(struct otlp_trace *t, struct otlp_attrs *a, const char *key, const char *v)
{
    struct otlp_attr *x = attr_new(t, a, key, OTLP_STRING);
    if (x != NULL)
        x->s = tdup(t, v);
}

void otlp_attr_int(struct otlp_trace *t, struct otlp_attrs *a, const char *key, int64_t v)
{
    struct otlp_attr *x = attr_new(t, a, key, OTLP_INT);
    if (x != NULL)
        x->i = v;
}

void otlp_attr_double(struct otlp_trace *t, struct otlp_attrs *a, const char *key, double v)
{
    struct otlp_attr *x = attr_new(t, a, key, OTLP_DOUBLE);
    if (x != NULL)
        x->d = isfinite(v) ? v : 0;
}

void otlp_attr_bool(struct otlp_trace *t, struct otlp_attrs *a, const char *key, bool v)
{
    struct otlp_attr *x = attr_new(t, a, key, OTLP_BOOL);
    if (x != NULL)
        x->b = v;
}

void otlp_attr_strings(struct otlp_trace *t, struct otlp_attrs *a, const char *key,
                       const char *const *v, int n)
{
    struct otlp_attr *x = attr_new(t, a, key, OTLP_STRINGS);
    if (x == NULL)
        return;
    if (n > 0 && (x->strings = calloc((size_t)n, sizeof(char *))) == NULL) {
        t->err = -ENOMEM;
        return;
    }
    for (int i = 0; i < n && !t->err; i++)
        if ((x->strings[i] = tdup(t, v[i])) != NULL)
            x->n_strings = i + 1;
}

const struct otlp_attr *otlp_attr_find(const struct otlp_attrs *a, const char *key)
{
    for (int i = 0; i < a->n; i++)
        if (!strcmp(a->a[i].key, key))
            return &a->a[i];
    return NULL;
}

void otlp_attr_set_string(struct otlp_trace *t, struct otlp_attrs *a, const char *key,
                          const char *v)
{
    struct otlp_attr *x = (struct otlp_attr *)otlp_attr_find(a, key);
    if (x == NULL) {
        otlp_attr_string(t, a, key, v);
        return;
    }
    char *s = tdup(t, v);
    if (s == NULL)
        return;
    for (int k = 0; k < x->n_strings; k++)
        free(x->strings[k]);
    free(x->strings);
    free(x->s);
    x->strings = NULL;
    x->n_strings = 0;
    x->type = OTLP_STRING;
    x->s = s;
}

struct otlp_span *otlp_add_span(struct otlp_trace *t, enum otlp_span_kind kind, uint32_t index,
                                uint64_t start_unix_ns, uint64_t end_unix_ns)
{
    if (t->err)
        return NULL;
    if (t->n_spans == t->cap_spans) {
        int cap = t->cap_spans ? t->cap_spans * 2 : 16;
        struct otlp_span *p = realloc(t->spans, (size_t)cap * sizeof(*p));
        if (p == NULL) {
            t->err = -ENOMEM;
            return NULL;
        }
        t->spans = p;
        t->cap_spans = cap;
    }
    struct otlp_span *s = &t->spans[t->n_spans++];
    memset(s, 0, sizeof(*s));
    s->kind = kind;
    s->start_unix_ns = start_unix_ns;
    s->end_unix_ns = end_unix_ns > start_unix_ns ? end_unix_ns : start_unix_ns;
    otlp_span_id(t->identity_id, kind, index, s->span_id);
    if (kind == OTLP_SPAN_PROCESS) {
        s->has_parent = t->root_parent_set;
        memcpy(s->parent_id, t->root_parent, 8);
    } else {
        s->has_parent = true;
        otlp_span_id(t->identity_id, OTLP_SPAN_PROCESS, 0, s->parent_id);
    }
    return s;
}

/* ---- the span model ---- */

static double leaked_bytes(const struct model_stats *s)
{
    return s->leaked_bytes;
}

static int64_t num(double v)
{
    if (!isfinite(v) || v <= 0)
        return 0;
    return v >= 9.2e18 ? INT64_MAX : (int64_t)llround(v);
}

/* code.* of a frame: the function, file and line where known. */
static void code_attrs(struct otlp_trace *t, struct otlp_attrs *a, const struct model_frame *f)
{
    char buf[FMT_FRAME_MAX];
    if (f->function != NULL)
        otlp_attr_string(t, a, "code.function.name", f->function);
    else
        otlp_attr_string(t, a, "code.function.name", fmt_frame(buf, sizeof(buf), f));
    if (f->file != NULL)
        otlp_attr_string(t, a, "code.file.path", f->file);
    if (f->line > 0)
        otlp_attr_int(t, a, "code.line.number", f->line);
}

/* code.stacktrace: one frame a line, innermost first, as the reports write them. */
static void stack_attr(struct otlp_trace *t, struct otlp_attrs *a, const struct model_site *s)
{
    size_t cap = 1, len = 0;
    for (int i = 0; i < s->n_frames; i++)
        cap += FMT_FRAME_MAX + 8;
    char *text = malloc(cap), buf[FMT_FRAME_MAX];
    if (text == NULL) {
        t->err = -ENOMEM;
        return;
    }
    text[0] = '\0';
    for (int i = 0; i < s->n_frames; i++) {
        int n = snprintf(text + len, cap - len, "%s%s%s", i ? "\n" : "",
                         fmt_frame(buf, sizeof(buf), s->frames[i]),
                         s->frames[i]->inlined ? " [inlined]" : "");
        if (n > 0)
            len += (size_t)n < cap - len ? (size_t)n : cap - len - 1;
    }
    otlp_attr_string(t, a, "code.stacktrace", text);
    free(text);
}

static void sample_attr(struct otlp_trace *t, struct otlp_attrs *a, uint64_t sample_bytes)
{
    otlp_attr_int(t, a, "heap.sampling.interval_bytes",
                  sample_bytes > INT64_MAX ? INT64_MAX : (int64_t)sample_bytes);
}

void otlp_add_interval(struct otlp_trace *t, uint32_t index, const struct otlp_interval *iv,
                       uint64_t sample_bytes)
{
    struct otlp_span *s =
        otlp_add_span(t, OTLP_SPAN_INTERVAL, index, iv->start_unix_ns, iv->end_unix_ns);
    if (s == NULL)
        return;
    struct otlp_attrs *a = &s->attrs;
    otlp_attr_int(t, a, "heap.interval.index", index);
    if (iv->marker_serial != 0) {
        otlp_attr_string(t, a, "heap.marker.kind", iv->marker_kind ? iv->marker_kind : "?");
        otlp_attr_int(t, a, "heap.marker.serial", iv->marker_serial);
    }
    otlp_attr_int(t, a, "heap.live.bytes", num(iv->live_bytes));
    otlp_attr_int(t, a, "heap.live.blocks", num(iv->live_blocks));
    otlp_attr_int(t, a, "heap.peak.bytes", num(iv->peak_bytes));
    otlp_attr_int(t, a, "heap.allocations", num(iv->allocations));
    otlp_attr_int(t, a, "heap.frees", num(iv->frees));
    otlp_attr_int(t, a, "heap.allocated.bytes", num(iv->allocated_bytes));
    sample_attr(t, a, sample_bytes);
}

static const char *end_name(enum model_end e)
{
    switch (e) {
    case MODEL_END_NONE:
        return "none";
    case MODEL_END_EXIT:
        return "exit";
    case MODEL_END_UNDERSCORE_EXIT:
        return "_exit";
    case MODEL_END_SIGNAL:
        return "signal";
    case MODEL_END_STOPPED:
        return "stopped";
    case MODEL_END_OTHER:
        break;
    }
    return "other";
}

void otlp_from_model(struct otlp_trace *t, const struct model *m, const struct otlp_options *o)
{
    const struct model_totals *tot = &m->totals;
    uint64_t start = m->process.start_unix_ns;
    double last = tot->last_ns;
    if (m->process.ended && m->process.end_ns > last)
        last = m->process.end_ns;
    uint64_t end = o->live ? o->end_unix_ns : start + (uint64_t)(last > 0 ? last : 0);
    bool stopped = rank_stopped(m);

    struct otlp_span *root = otlp_add_span(t, OTLP_SPAN_PROCESS, 0, start, end);
    if (root == NULL)
        return;
    struct otlp_attrs *a = &root->attrs;
    otlp_attr_int(t, a, "heap.allocations", num(tot->allocations));
    otlp_attr_int(t, a, "heap.frees", num(tot->frees));
    otlp_attr_int(t, a, "heap.allocated.bytes", num(tot->allocated_bytes));
    otlp_attr_int(t, a, "heap.peak.bytes", num(tot->peak_live_bytes));
    otlp_attr_int(t, a, "heap.peak.time_unix_nano", (int64_t)(start + (uint64_t)tot->peak_ns));
    otlp_attr_int(t, a, "heap.live.bytes", num(tot->live_bytes));
    otlp_attr_int(t, a, "heap.live.blocks", num(tot->live_blocks));
    otlp_attr_int(t, a, "heap.leaked.bytes", num(tot->leaked_bytes));
    otlp_attr_int(t, a, "heap.leaked.blocks", num(tot->leaked_allocations));
    otlp_attr_int(t, a, "heap.temporary.allocations", num(tot->temporary_allocations));
    sample_attr(t, a, m->process.sample_bytes);
    otlp_attr_bool(t, a, "heap.sampled", tot->sampled);
    otlp_attr_int(t, a, "heap.lost_events", (int64_t)tot->lost_events);
    otlp_attr_int(t, a, "heap.markers", (int64_t)tot->markers);
    otlp_attr_string(t, a, "heap.process.end", end_name(m->process.end_reason));
    if (m->process.log_path != NULL)
        otlp_attr_string(t, a, "heap.log.path", m->process.log_path);
    /* ERROR over the threshold; when recording stopped, what is live is not a leak. */
    if (o->leak_threshold >= 0 && !stopped && tot->leaked_bytes > o->leak_threshold) {
        char lb[32], th[32], msg[160];
        snprintf(msg, sizeof(msg), "%s leaked in %.0f blocks, over the threshold of %s",
                 fmt_bytes(lb, sizeof(lb), tot->leaked_bytes), tot->leaked_allocations,
                 fmt_bytes(th, sizeof(th), o->leak_threshold));
        root->status = OTLP_STATUS_ERROR;
        root->status_message = tdup(t, msg);
    }

    for (int i = 0; i < o->n_intervals; i++)
        otlp_add_interval(t, o->first_interval + (uint32_t)i, &o->intervals[i],
                          m->process.sample_bytes);

    int *idx = m->n_sites > 0 ? malloc((size_t)m->n_sites * sizeof(int)) : NULL;
    if (m->n_sites > 0 && idx == NULL) {
        t->err = -ENOMEM;
        return;
    }
    int n = stopped ? 0 : rank_sites(m, leaked_bytes, true, idx);
    for (int r = 0; r < n && r < o->top; r++) {
        const struct model_site *site = &m->sites[idx[r]];
        struct otlp_span *s = otlp_add_span(t, OTLP_SPAN_LEAK, (uint32_t)r, start, end);
        if (s == NULL)
            break;
        otlp_attr_int(t, &s->attrs, "heap.rank", r + 1);
        otlp_attr_int(t, &s->attrs, "heap.leaked.bytes", num(site->st.leaked_bytes));
        otlp_attr_int(t, &s->attrs, "heap.leaked.blocks", num(site->st.leaked_allocations));
        otlp_attr_int(t, &s->attrs, "heap.allocations", num(site->st.allocations));
        otlp_attr_int(t, &s->attrs, "heap.allocated.bytes", num(site->st.allocated_bytes));
        code_attrs(t, &s->attrs, site->frames[site->title]);
        stack_attr(t, &s->attrs, site);
    }
    free(idx);

    for (int r = 0; r < m->n_bloats && r < o->top; r++) {
        const struct model_bloat *b = &m->bloats[r];
        struct otlp_span *s = otlp_add_span(t, OTLP_SPAN_BLOAT, (uint32_t)r, start, end);
        if (s == NULL)
            break;
        otlp_attr_int(t, &s->attrs, "heap.rank", r + 1);
        otlp_attr_int(t, &s->attrs, "heap.block.size", (int64_t)b->size);
        otlp_attr_int(t, &s->attrs, "heap.peak.blocks", num(b->blocks_at_peak));
        otlp_attr_int(t, &s->attrs, "heap.peak.bytes", num(b->bytes_at_peak));
        otlp_attr_int(t, &s->attrs, "heap.slack.bytes_per_block", num(b->slack_bytes_per_block));
        otlp_attr_int(t, &s->attrs, "heap.sites", b->n_sites);
        if (b->n_types > 0) {
            const struct model_struct *ty = &b->types[0];
            char name[512];
            snprintf(name, sizeof(name), "%s %s", ty->kind, ty->name);
            otlp_attr_string(t, &s->attrs, "heap.type.name", name);
            otlp_attr_int(t, &s->attrs, "heap.type.hole_bytes", (int64_t)ty->hole_bytes);
            otlp_attr_int(t, &s->attrs, "heap.type.padding_bytes", (int64_t)ty->padding_bytes);
        }
        if (b->n_sites > 0) {
            const struct model_site *site = &m->sites[b->sites[0]];
            code_attrs(t, &s->attrs, site->frames[site->title]);
            stack_attr(t, &s->attrs, site);
        }
    }
}

/* ---- protobuf ---- */

static void pb_attrs(struct pbuf *p, uint32_t field, const struct otlp_attrs *a)
{
    for (int i = 0; i < a->n; i++) {
        const struct otlp_attr *x = &a->a[i];
        pb_begin(p, field);
        pb_string(p, KV_KEY, x->key);
        pb_begin(p, KV_VALUE);
        switch (x->type) {
        case OTLP_STRING:
            pb_string(p, AV_STRING, x->s);
            break;
        case OTLP_INT:
            pb_int(p, AV_INT, x->i);
            break;
        case OTLP_DOUBLE:
            pb_double(p, AV_DOUBLE, x->d);
            break;
        case OTLP_BOOL:
            pb_uint(p, AV_BOOL, x->b);
            break;
        case OTLP_STRINGS:
            pb_begin(p, AV_ARRAY);
            for (int k = 0; k < x->n_strings; k++) {
                pb_begin(p, ARRAY_VALUES);
                pb_string(p, AV_STRING, x->strings[k]);
                pb_end(p);
            }
            pb_end(p);
            break;
        }
        pb_end(p);
        pb_end(p);
    }
}

int otlp_encode_protobuf(const struct otlp_trace *t, uint8_t **out, size_t *len)
{
    return otlp_encode_protobuf_spans(t, 0, t->n_spans, out, len);
}

int otlp_encode_protobuf_spans(const struct otlp_trace *t, int first, int n, uint8_t **out,
                               size_t *len)
{
    struct pbuf p;
    *out = NULL;
    *len = 0;
    if (t->err)
        return t->err;
    pb_init(&p);
    pb_begin(&p, REQ_RESOURCE_SPANS);
    pb_begin(&p, RS_RESOURCE);
    pb_attrs(&p, RES_ATTRIBUTES, &t->resource);
    pb_end(&p);
    pb_begin(&p, RS_SCOPE_SPANS);
    pb_begin(&p, SS_SCOPE);
    pb_string(&p, SCOPE_NAME, "heapspan");
    pb_string(&p, SCOPE_VERSION, HEAPSPAN_VERSION);
    pb_end(&p);
    for (int i = first; i < first + n && i < t->n_spans; i++) {
        const struct otlp_span *s = &t->spans[i];
        pb_begin(&p, SS_SPANS);
        pb_bytes(&p, SPAN_TRACE_ID, t->trace_id, 16);
        pb_bytes(&p, SPAN_SPAN_ID, s->span_id, 8);
        if (t->trace_state != NULL)
            pb_string(&p, SPAN_TRACE_STATE, t->trace_state);
        if (s->has_parent)
            pb_bytes(&p, SPAN_PARENT_SPAN_ID, s->parent_id, 8);
        pb_string(&p, SPAN_NAME, span_names[s->kind]);
        pb_uint(&p, SPAN_KIND, SPAN_KIND_INTERNAL);
        pb_fixed64(&p, SPAN_START, s->start_unix_ns);
        pb_fixed64(&p, SPAN_END, s->end_unix_ns);
        pb_attrs(&p, SPAN_ATTRIBUTES, &s->attrs);
        if (s->status != OTLP_STATUS_UNSET) {
            pb_begin(&p, SPAN_STATUS);
            if (s->status_message != NULL)
                pb_string(&p, STATUS_MESSAGE, s->status_message);
            pb_uint(&p, STATUS_CODE, (uint64_t)s->status);
            pb_end(&p);
        }
        pb_end(&p);
    }
    pb_end(&p);
    pb_end(&p);
    int err = pb_error(&p);
    if (err == 0) {
        *len = pb_len(&p);
        if ((*out = malloc(*len ? *len : 1)) == NULL)
            err = -ENOMEM;
        else
            memcpy(*out, pb_data(&p), *len);
    }
    pb_fini(&p);
    return err;
}

/* ---- OTLP/JSON ---- */

static void json_hex(struct json *j, const uint8_t *b, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    char s[33];
    for (size_t i = 0; i < n; i++) {
        s[2 * i] = hex[b[i] >> 4];
        s[2 * i + 1] = hex[b[i] & 15];
    }
    s[2 * n] = '\0';
    json_string(j, s);
}

/* 64-bit integers are decimal strings in OTLP/JSON. */
static void json_i64(struct json *j, int64_t v)
{
    char s[24];
    snprintf(s, sizeof(s), "%" PRId64, v);
    json_string(j, s);
}

static void json_value(struct json *j, const struct otlp_attr *x)
{
    json_object_begin(j);
    switch (x->type) {
    case OTLP_STRING:
        json_key(j, "stringValue");
        json_string(j, x->s);
        break;
    case OTLP_INT:
        json_key(j, "intValue");
        json_i64(j, x->i);
        break;
    case OTLP_DOUBLE:
        json_key(j, "doubleValue");
        json_rawf(j, "%.17g", x->d);
        break;
    case OTLP_BOOL:
        json_key(j, "boolValue");
        json_bool(j, x->b);
        break;
    case OTLP_STRINGS:
        json_key(j, "arrayValue");
        json_object_begin(j);
        json_key(j, "values");
        json_array_begin(j);
        for (int k = 0; k < x->n_strings; k++) {
            json_object_begin(j);
            json_key(j, "stringValue");
            json_string(j, x->strings[k]);
            json_object_end(j);
        }
        json_array_end(j);
        json_object_end(j);
        break;
    }
    json_object_end(j);
}

static void json_attrs(struct json *j, const struct otlp_attrs *a)
{
    json_key(j, "attributes");
    json_array_begin(j);
    for (int i = 0; i < a->n; i++) {
        json_object_begin(j);
        json_key(j, "key");
        json_string(j, a->a[i].key);
        json_key(j, "value");
        json_value(j, &a->a[i]);
        json_object_end(j);
    }
    json_array_end(j);
}

int otlp_encode_json(const struct otlp_trace *t, FILE *out)
{
    return otlp_encode_json_spans(t, 0, t->n_spans, out);
}

int otlp_encode_json_spans(const struct otlp_trace *t, int first, int n, FILE *out)
{
    struct json j;
    if (t->err)
        return t->err;
    json_init(&j, out);
    json_object_begin(&j);
    json_key(&j, "resourceSpans");
    json_array_begin(&j);
    json_object_begin(&j);
    json_key(&j, "resource");
    json_object_begin(&j);
    json_attrs(&j, &t->resource);
    json_object_end(&j);
    json_key(&j, "scopeSpans");
    json_array_begin(&j);
    json_object_begin(&j);
    json_key(&j, "scope");
    json_object_begin(&j);
    json_key(&j, "name");
    json_string(&j, "heapspan");
    json_key(&j, "version");
    json_string(&j, HEAPSPAN_VERSION);
    json_object_end(&j);
    json_key(&j, "spans");
    json_array_begin(&j);
    for (int i = first; i < first + n && i < t->n_spans; i++) {
        const struct otlp_span *s = &t->spans[i];
        json_object_begin(&j);
        json_key(&j, "traceId");
        json_hex(&j, t->trace_id, 16);
        json_key(&j, "spanId");
        json_hex(&j, s->span_id, 8);
        if (t->trace_state != NULL) {
            json_key(&j, "traceState");
            json_string(&j, t->trace_state);
        }
        if (s->has_parent) {
            json_key(&j, "parentSpanId");
            json_hex(&j, s->parent_id, 8);
        }
        json_key(&j, "name");
        json_string(&j, span_names[s->kind]);
        json_key(&j, "kind");
        json_int(&j, SPAN_KIND_INTERNAL);
        json_key(&j, "startTimeUnixNano");
        json_i64(&j, (int64_t)s->start_unix_ns);
        json_key(&j, "endTimeUnixNano");
        json_i64(&j, (int64_t)s->end_unix_ns);
        json_attrs(&j, &s->attrs);
        if (s->status != OTLP_STATUS_UNSET) {
            json_key(&j, "status");
            json_object_begin(&j);
            if (s->status_message != NULL) {
                json_key(&j, "message");
                json_string(&j, s->status_message);
            }
            json_key(&j, "code");
            json_int(&j, s->status);
            json_object_end(&j);
        }
        json_object_end(&j);
    }
    json_array_end(&j);
    json_object_end(&j);
    json_array_end(&j);
    json_object_end(&j);
    json_array_end(&j);
    json_object_end(&j);
    return ferror(out) ? -EIO : 0;
}
