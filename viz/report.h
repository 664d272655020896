/*
 * report.h - the aggregate -> a report: ranked sections for people (text, markdown) or
 * every number for scripts (JSON, documented in docs/report-json.md). Reads only the
 * aggregate and the log's description, never the log itself. Writes to a FILE; fails
 * with -EIO if writing fails.
 */
#ifndef HEAPSPAN_REPORT_H
#define HEAPSPAN_REPORT_H

#include <stdio.h>

#include "analyzer/aggregate.h"
#include "analyzer/reader.h"

enum report_format {
    REPORT_TEXT,
    REPORT_JSON,
    REPORT_MARKDOWN,
};

struct report_input {
    const char *log_path;
    const struct rd_log *log;
    const struct agg *agg;
    int top;              /* rows per section */
    const char *warnings; /* reader and symbolizer warnings, one per line */
};

int report_write(FILE *out, enum report_format fmt, const struct report_input *in);

/* "1.50 MiB", "812 B": binary units, three significant digits. */
void report_bytes(char *buf, size_t cap, double bytes);

#endif
