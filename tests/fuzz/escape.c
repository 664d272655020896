/*
 * escape.c - fuzz target: any bytes as a string from a log, as the reports show it
 * (util/escape.c for text and markdown, util/json.c for JSON). The text form must hold
 * nothing a terminal would obey and only valid UTF-8; the JSON form must be a valid
 * JSON string; a string that needs no escaping must come out unchanged.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzzlib.h"
#include "util/escape.h"
#include "util/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1), *out = NULL, buf[64];
    size_t len = 0, at = 0;
    const char *why;

    if (s == NULL)
        abort();
    memcpy(s, data, size);
    s[size] = '\0'; /* a log's strings end at their first NUL */

    FILE *f = open_memstream(&out, &len);
    if (f == NULL)
        abort();
    esc_fputs(s, f);
    fclose(f);
    if (!fz_text_safe(out, len, &at))
        fz_fail("esc_fputs", "unsafe text", at);
    bool plain = fz_text_safe(s, strlen(s), &at) && strchr(s, '\n') == NULL;
    if (plain && strcmp(out, s) != 0)
        fz_fail("esc_fputs", "changed a string that needs no escape", 0);
    /* Cut to fit: a prefix of the whole form, still safe. */
    for (size_t cap = 1; cap <= sizeof(buf); cap += 7) {
        esc_text(buf, cap, s);
        if (strncmp(buf, out, strlen(buf)) != 0 || !fz_text_safe(buf, strlen(buf), &at))
            fz_fail("esc_text", "not a safe prefix of esc_fputs's", cap);
    }
    free(out);

    struct json j;
    f = open_memstream(&out, &len);
    if (f == NULL)
        abort();
    json_init(&j, f);
    json_object_begin(&j);
    json_key(&j, s);
    json_string(&j, s);
    json_object_end(&j);
    fclose(f);
    if (!fz_json_valid(out, len, &why, &at))
        fz_fail("json_string", why, at);
    free(out);
    free(s);
    return 0;
}
