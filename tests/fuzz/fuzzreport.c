/* fuzzreport.c - fz_report and fz_render: a log through the session, a model through
 * every renderer (fuzzlib.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/session.h"
#include "tests/fuzz/fuzzlib.h"
#include "viz/render.h"

void fz_render(const struct model *m)
{
    int n;
    const struct renderer *list = render_list(&n);
    for (int i = 0; i < n; i++) {
        char *out = NULL;
        size_t len = 0, at = 0;
        const char *why = NULL;
        FILE *f = open_memstream(&out, &len);
        struct render_options ro = { .top = list[i].default_top };
        if (f == NULL)
            abort();
        int err = render_write(&list[i], f, m, &ro);
        fclose(f);
        if (err < 0)
            fz_fail(list[i].name, "render_write failed", 0);
        if (strcmp(list[i].name, "json") == 0) {
            if (!fz_json_valid(out, len, &why, &at))
                fz_fail("json report", why, at);
        } else {
            /* The HTML page's own script and styles hold tabs and carriage returns;
             * what came from the log must not add other control characters. */
            if (strcmp(list[i].name, "html") == 0)
                for (size_t k = 0; k < len; k++)
                    if (out[k] == '\t' || out[k] == '\r')
                        out[k] = ' ';
            if (!fz_text_safe(out, len, &at))
                fz_fail(list[i].name, "a control character or bad UTF-8", at);
        }
        free(out);
    }
}

void fz_report(const char *path, bool threads)
{
    struct session_options opt = {
        .path = path, .to = -1, .symbols = false, .aggregate = true, .in_order = !threads
    };
    struct session *s = NULL;

    if (session_open(&opt, &s) < 0) {
        if (session_error(s)[0] == '\0')
            fz_fail("session_open", "failed without a message", 0);
        session_close(s);
        return;
    }
    fz_render(session_model(s));
    session_close(s);
}
