/* modmap.c - see modmap.h. */
#include "preload/modmap.h"

#include <elf.h>
#include <link.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "format/logfmt.h"
#include "preload/rt.h"
#include "preload/writer.h"

#define MAX_MODULES 8192
#define MAX_SEGS    16

struct known {
    uint64_t bias;
    uint64_t name_hash;
    uint32_t id;
    bool seen; /* in the current scan */
};

static pthread_mutex_t scan_lock = PTHREAD_MUTEX_INITIALIZER;
static struct known *known; /* MAX_MODULES entries, mmap'd */
static int n_known;
static uint32_t next_module_id = 1;
static unsigned long long last_adds, last_subs;
static uint8_t *rec_buf; /* scratch for one record */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    while (*s)
        h = (h ^ (uint8_t)*s++) * 1099511628211ull;
    return h;
}

static size_t build_id_of(const struct dl_phdr_info *info, const uint8_t **out)
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
        const uint8_t *end = p + ph->p_memsz;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
            const uint8_t *name = p + sizeof(*nh);
            const uint8_t *desc = name + ((nh->n_namesz + 3) & ~3u);
            const uint8_t *next = desc + ((nh->n_descsz + 3) & ~3u);
            if (next > end)
                break;
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && memcmp(name, "GNU", 4) == 0 &&
                nh->n_descsz <= 64) {
                *out = desc;
                return nh->n_descsz;
            }
            p = next;
        }
    }
    return 0;
}

static void queue_module(const struct dl_phdr_info *info, const char *name, uint32_t id)
{
    uint8_t *body = rec_buf + 16, *p = body;
    const uint8_t *bid = NULL;
    size_t bid_len = build_id_of(info, &bid);
    size_t name_len = strnlen(name, LF_MAX_PATH - 1);
    uint64_t n_segs = 0;

    for (int i = 0; i < info->dlpi_phnum; i++)
        n_segs += info->dlpi_phdr[i].p_type == PT_LOAD;
    if (n_segs > MAX_SEGS)
        n_segs = MAX_SEGS;
    p = lf_put_varint(p, rt_ticks());
    p = lf_put_varint(p, id);
    p = lf_put_varint(p, (uint64_t)info->dlpi_addr);
    p = lf_put_varint(p, n_segs);
    for (int i = 0, k = 0; i < info->dlpi_phnum && k < (int)n_segs; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        p = lf_put_varint(p, ph->p_vaddr);
        p = lf_put_varint(p, ph->p_memsz);
        p = lf_put_varint(p, ph->p_flags);
        k++;
    }
    p = lf_put_varint(p, bid_len);
    if (bid_len > 0)
        memcpy(p, bid, bid_len);
    p += bid_len;
    p = lf_put_varint(p, name_len);
    memcpy(p, name, name_len);
    p += name_len;

    size_t body_len = (size_t)(p - body);
    uint8_t *rec = p + 16, *r = rec;
    *r++ = LF_META_MODULE;
    r = lf_put_varint(r, body_len);
    memcpy(r, body, body_len);
    wr_meta(rec, (size_t)(r - rec) + body_len);
}

static void queue_unload(uint32_t id)
{
    uint8_t rec[32], *r = rec + 2, *p = r;
    p = lf_put_varint(p, rt_ticks());
    p = lf_put_varint(p, id);
    rec[0] = LF_META_UNLOAD;
    rec[1] = (uint8_t)(p - r); /* < 128: one varint byte */
    wr_meta(rec, (size_t)(p - rec));
}

/* The main program reports an empty name; the log wants its path. */
static const char *module_name(const struct dl_phdr_info *info)
{
    if (info->dlpi_name != NULL && info->dlpi_name[0] != '\0')
        return info->dlpi_name;
    return rt_cfg.exe;
}

static int scan_one(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    (void)arg;
    const char *name = module_name(info);
    uint64_t h = hash_str(name);

    for (int i = 0; i < n_known; i++)
        if (known[i].bias == info->dlpi_addr && known[i].name_hash == h) {
            known[i].seen = true;
            return 0;
        }
    if (n_known >= MAX_MODULES)
        return 0;
    known[n_known] = (struct known){ info->dlpi_addr, h, next_module_id++, true };
    n_known++;
    queue_module(info, name, known[n_known - 1].id);
    return 0;
}

static int read_counters(struct dl_phdr_info *info, size_t size, void *arg)
{
    unsigned long long *c = arg;
    (void)size;
    c[0] = info->dlpi_adds;
    c[1] = info->dlpi_subs;
    return 1; /* the counters are the same in every entry: stop at the first */
}

void mm_scan(bool force)
{
    unsigned long long c[2] = { 0, 0 };

    pthread_mutex_lock(&scan_lock);
    if (known == NULL) {
        known = rt_map(MAX_MODULES * sizeof(*known));
        rec_buf = rt_map(2 * LF_MAX_PATH + 4096);
        if (known == NULL || rec_buf == NULL)
            goto out;
    }
    dl_iterate_phdr(read_counters, c);
    if (!force && c[0] == last_adds && c[1] == last_subs)
        goto out;
    last_adds = c[0];
    last_subs = c[1];
    for (int i = 0; i < n_known; i++)
        known[i].seen = false;
    dl_iterate_phdr(scan_one, NULL);
    for (int i = 0; i < n_known;) {
        if (!known[i].seen) {
            queue_unload(known[i].id);
            known[i] = known[--n_known];
        } else {
            i++;
        }
    }
out:
    pthread_mutex_unlock(&scan_lock);
}

struct range_query {
    uint64_t addr, lo, hi;
    bool found;
};

static int find_range(struct dl_phdr_info *info, size_t size, void *arg)
{
    struct range_query *q = arg;
    uint64_t lo = UINT64_MAX, hi = 0;
    (void)size;

    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uint64_t a = info->dlpi_addr + ph->p_vaddr;
        if (a < lo)
            lo = a;
        if (a + ph->p_memsz > hi)
            hi = a + ph->p_memsz;
    }
    if (q->addr >= lo && q->addr < hi) {
        q->lo = lo;
        q->hi = hi;
        q->found = true;
        return 1;
    }
    return 0;
}

bool mm_range_of(const void *addr, uint64_t *lo, uint64_t *hi)
{
    struct range_query q = { (uint64_t)(uintptr_t)addr, 0, 0, false };

    dl_iterate_phdr(find_range, &q);
    *lo = q.lo;
    *hi = q.hi;
    return q.found;
}

void mm_fork_prepare(void)
{
    pthread_mutex_lock(&scan_lock);
}

void mm_fork_parent(void)
{
    pthread_mutex_unlock(&scan_lock);
}

void mm_fork_child(void)
{
    pthread_mutex_init(&scan_lock, NULL);
    n_known = 0;
    next_module_id = 1;
    last_adds = last_subs = 0;
}
