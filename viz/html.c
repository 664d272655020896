/* html.c - the report as one HTML page. See render.h. */
#include "viz/render.h"

int render_html(FILE *out, const struct model *m, const struct render_options *opt)
{
    (void)out;
    (void)m;
    (void)opt;
    return 0;
}
