/*
 * gzip.h - gzip compression of a whole buffer (zlib's deflate with a gzip header), for
 * the files and requests that are gzip'd by convention: pprof profiles on disk,
 * OTLP requests with Content-Encoding: gzip, Pyroscope pushes. The header's time is 0
 * and its OS byte fixed, so the same input always gives the same bytes.
 *
 * One call per buffer; thread-safe (no shared state). Allocates the output, which the
 * caller frees. Fails with -ENOMEM, or -EIO if zlib reports an error.
 */
#ifndef HEAPSPAN_UTIL_GZIP_H
#define HEAPSPAN_UTIL_GZIP_H

#include <stddef.h>
#include <stdint.h>

/* Compresses n bytes of data at zlib's default level into *out (malloc'd, *out_len
 * bytes). 0 or a negative errno; *out is NULL on failure. */
int gz_compress(const void *data, size_t n, uint8_t **out, size_t *out_len)
    __attribute__((warn_unused_result));

#endif
