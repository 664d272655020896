/* api_header.c - include/heapspan.h in a translation unit of its own, every function
 * used, compiled as C99, C11 at -O0, C++98 and C++17 under strict warnings, and with
 * HEAPSPAN_DISABLE (tests/api.mk): a program's own -Werror must find nothing in it. */
#include <stdlib.h>

#include "include/heapspan.h"

#ifdef __cplusplus
#define TO_CHARS(p) static_cast<char *>(p)
#else
#define TO_CHARS(p) (p)
#endif

int api_header_use(void);

int api_header_use(void)
{
    static int pool;
    char *p = TO_CHARS(malloc(64));
    heapspan_alloc(p, 64);
    heapspan_pool_name(&pool, "pool");
    heapspan_pool_alloc(&pool, p + 16, 16);
    heapspan_pool_resize(&pool, p + 16, p + 32, 16);
    heapspan_pool_reset(&pool);
    heapspan_resize(p, p, 32);
    heapspan_ignore_begin();
    heapspan_ignore_end();
    heapspan_free(p);
    free(p);
    return heapspan_active();
}
