/* speedscope.c - speedscope's file format (see export.h). */
#include "viz/export.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>

#include "util/hashmap.h"
#include "util/json.h"

#ifndef HEAPSPAN_VERSION
#define HEAPSPAN_VERSION "0.1.0"
#endif

struct fent {
    const struct model_frame *f;
    int id;
};

static bool fent_eq(const void *entry, const void *key)
{
    return ((const struct fent *)entry)->f == (const struct model_frame *)key;
}

static const char *const labels[FLAME_N_METRICS] = { "bytes live at the peak", "bytes leaked",
                                                     "allocation calls", "temporary allocations",
                                                     "bytes allocated" };

int export_speedscope(FILE *out, const struct model *m, enum flame_metric metric)
{
    struct hmap ids;
    const struct model_frame **frames = NULL;
    int *site_frames = NULL; /* per site, its first frame's place in stacks */
    int *stacks = NULL;      /* frame indexes, root first, site after site */
    int n_frames = 0, n_stack = 0, err = 0;
    struct json j;
    char unknown[256], name[600];

    hmap_init(&ids, sizeof(struct fent));
    size_t total_frames = 0;
    for (int i = 0; i < m->n_sites; i++)
        total_frames += (size_t)m->sites[i].n_frames;
    frames = calloc(total_frames + 1, sizeof(*frames));
    stacks = calloc(total_frames + 1, sizeof(*stacks));
    site_frames = calloc((size_t)m->n_sites + 1, sizeof(*site_frames));
    if (frames == NULL || stacks == NULL || site_frames == NULL) {
        err = -ENOMEM;
        goto out;
    }
    for (int i = 0; i < m->n_sites; i++) {
        const struct model_site *s = &m->sites[i];
        site_frames[i] = n_stack;
        for (int k = s->n_frames - 1; k >= 0; k--) {
            bool added;
            const struct model_frame *f = s->frames[k];
            struct fent *e = hmap_put(&ids, (uint64_t)(uintptr_t)f, f, fent_eq, &added);
            if (e == NULL) {
                err = -ENOMEM;
                goto out;
            }
            if (added) {
                e->f = f;
                e->id = n_frames;
                frames[n_frames++] = f;
            }
            stacks[n_stack++] = e->id;
        }
    }

    json_init(&j, out);
    json_object_begin(&j);
    json_key(&j, "$schema");
    json_string(&j, "https://www.speedscope.app/file-format-schema.json");
    json_key(&j, "exporter");
    json_string(&j, "heapspan " HEAPSPAN_VERSION);
    json_key(&j, "name");
    json_string(&j, m->process.exe[0] ? m->process.exe : m->process.log_path);
    json_key(&j, "activeProfileIndex");
    json_int(&j, (int)metric);
    json_key(&j, "shared");
    json_object_begin(&j);
    json_key(&j, "frames");
    json_array_begin(&j);
    for (int i = 0; i < n_frames; i++) {
        const struct model_frame *f = frames[i];
        json_object_begin(&j);
        json_key(&j, "name");
        if (f->function == NULL) {
            snprintf(unknown, sizeof(unknown), "%s+0x%" PRIx64, f->module ? f->module : "?",
                     f->module_offset);
            json_string(&j, unknown);
        } else if (f->inlined) {
            snprintf(name, sizeof(name), "%s (inlined)", f->function);
            json_string(&j, name);
        } else {
            json_string(&j, f->function);
        }
        if (f->file != NULL) {
            json_key(&j, "file");
            json_string(&j, f->file);
            if (f->line > 0) {
                json_key(&j, "line");
                json_int(&j, f->line);
            }
        }
        json_object_end(&j);
    }
    json_array_end(&j);
    json_object_end(&j);
    json_key(&j, "profiles");
    json_array_begin(&j);
    for (int k = 0; k < FLAME_N_METRICS; k++) {
        double total = 0;
        for (int i = 0; i < m->n_sites; i++) {
            double v = round(flame_site_value(&m->sites[i], (enum flame_metric)k));
            total += v > 0 ? v : 0;
        }
        json_object_begin(&j);
        json_key(&j, "type");
        json_string(&j, "sampled");
        json_key(&j, "name");
        snprintf(name, sizeof(name), "%s: %s", flame_metric_name((enum flame_metric)k), labels[k]);
        json_string(&j, name);
        json_key(&j, "unit");
        json_string(&j, flame_metric_bytes((enum flame_metric)k) ? "bytes" : "none");
        json_key(&j, "startValue");
        json_int(&j, 0);
        json_key(&j, "endValue");
        json_rawf(&j, "%.0f", total);
        json_key(&j, "samples");
        json_array_begin(&j);
        for (int i = 0; i < m->n_sites; i++) {
            if (!(round(flame_site_value(&m->sites[i], (enum flame_metric)k)) > 0))
                continue;
            json_array_begin(&j);
            for (int f = 0; f < m->sites[i].n_frames; f++)
                json_int(&j, stacks[site_frames[i] + f]);
            json_array_end(&j);
        }
        json_array_end(&j);
        json_key(&j, "weights");
        json_array_begin(&j);
        for (int i = 0; i < m->n_sites; i++) {
            double v = round(flame_site_value(&m->sites[i], (enum flame_metric)k));
            if (v > 0)
                json_rawf(&j, "%.0f", v);
        }
        json_array_end(&j);
        json_object_end(&j);
    }
    json_array_end(&j);
    json_object_end(&j);
    fputc('\n', out);
    err = json_finish(&j) < 0 ? -EINVAL : ferror(out) ? -EIO : 0;
out:
    hmap_fini(&ids);
    free(frames);
    free(stacks);
    free(site_frames);
    return err;
}
