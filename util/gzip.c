/* gzip.c - see gzip.h. */
#include "util/gzip.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <zlib.h>

/* windowBits 15 + 16: a gzip header and trailer instead of zlib's. */
#define GZIP_WINDOW_BITS (15 + 16)

int gz_compress(const void *data, size_t n, uint8_t **out, size_t *out_len)
{
    z_stream z = { 0 };
    int err = 0;

    *out = NULL;
    *out_len = 0;
    if (n > UINT_MAX)
        return -EINVAL; /* one deflate call takes an unsigned int of input */
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, GZIP_WINDOW_BITS, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK)
        return -ENOMEM;
    /* deflateBound covers the compressed body; 32 bytes more cover the gzip wrapper
     * whichever wrapper a given zlib version counts in it. */
    size_t cap = deflateBound(&z, (uLong)n) + 32;
    uint8_t *buf = malloc(cap);
    if (buf == NULL) {
        deflateEnd(&z);
        return -ENOMEM;
    }
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)n;
    z.next_out = buf;
    z.avail_out = (uInt)cap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
        free(buf);
        err = -EIO;
    } else {
        *out = buf;
        *out_len = cap - z.avail_out;
    }
    deflateEnd(&z);
    return err;
}
