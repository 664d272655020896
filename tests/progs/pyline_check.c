/* pyline_check.c - tests/python-tests.sh: analyzer/pyline.c against CPython's own
 * reading of its location tables. Reads lines "FIRST_LINE HEX_TABLE N L0 ... LN-1" (what
 * co_positions() gives for each of a code object's N code units, 0 for none) and
 * checks pyl_line for each unit, and for -1 (a frame not started: FIRST_LINE). Prints
 * "checked C units of K code objects, M wrong" and the first wrong ones; exits 1 if any. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/pyline.h"

int main(void)
{
    static char line[1 << 22];
    static unsigned char table[1 << 20];
    long units = 0, codes = 0, wrong = 0;

    while (fgets(line, sizeof(line), stdin) != NULL) {
        char *p = line, *end;
        long first = strtol(p, &end, 10);
        p = end + 1;
        size_t len = 0;
        while (p[0] != ' ' && p[0] != '\0' && len < sizeof(table)) {
            unsigned v;
            if (sscanf(p, "%2x", &v) != 1)
                break;
            table[len++] = (unsigned char)v;
            p += 2;
        }
        long n = strtol(p, &end, 10);
        p = end;
        codes++;
        if (pyl_line(table, len, (int)first, -1) != first && wrong++ < 10)
            printf("code %ld: instruction -1: expected %ld vs got %d\n", codes, first,
                   pyl_line(table, len, (int)first, -1));
        for (long i = 0; i < n; i++) {
            long want = strtol(p, &end, 10);
            p = end;
            int got = pyl_line(table, len, (int)first, i);
            units++;
            if (got != want && wrong++ < 10)
                printf("code %ld (first line %ld): unit %ld: expected %ld vs got %d\n", codes,
                       first, i, want, got);
        }
    }
    printf("checked %ld units of %ld code objects, %ld wrong\n", units, codes, wrong);
    return wrong != 0 || codes == 0;
}
