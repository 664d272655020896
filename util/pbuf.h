/*
 * pbuf.h - a protocol buffers wire-format writer: the encoder behind the pprof export
 * (profile.proto) and OTLP over HTTP (ExportTraceServiceRequest). Messages are written
 * field by field into one growing byte buffer, in the order the caller calls; nested
 * messages and packed repeated fields are opened and closed like JSON's objects, and
 * each one's length is patched in when it closes (the body moves left by the bytes the
 * minimal length varint does not need, so the output is canonical: the bytes protoc
 * would write for the same fields in the same order).
 *
 * Why hand-written and not protobuf-c: we emit about fifteen message types and never
 * decode; protobuf-c would want every message built as trees of pointer arrays before
 * packing, a code generator in the build and vendored .proto files. The tests decode
 * our output with independent decoders (go tool pprof, OpenTelemetry's own generated
 * decoder), so this encoder is checked by code that is not ours.
 *
 * Field rules are the caller's (proto3: omit scalars equal to their default where the
 * schema allows; repeated elements are always written). One thread per writer.
 * Allocates; an allocation failure is sticky: every later call does nothing and
 * pb_error() returns -ENOMEM. Nesting deeper than PB_MAX_DEPTH or unbalanced ends are
 * the caller's bugs (asserted).
 */
#ifndef HEAPSPAN_UTIL_PBUF_H
#define HEAPSPAN_UTIL_PBUF_H

#include <stddef.h>
#include <stdint.h>

#define PB_MAX_DEPTH 16

/* Only this module's functions use the fields. */
struct pbuf {
    uint8_t *buf;
    size_t len, cap;
    int err;                    /* 0, or -ENOMEM once an allocation failed */
    int depth;                  /* open messages and packed fields */
    size_t start[PB_MAX_DEPTH]; /* per open one: where its body begins */
};

void pb_init(struct pbuf *p);
void pb_fini(struct pbuf *p);

/* Wire type 0: uint32/uint64/bool/enum as given; int32/int64 sign-extended to 64 bits
 * (a negative value takes 10 bytes, as protobuf's int64 does: no zigzag). */
void pb_uint(struct pbuf *p, uint32_t field, uint64_t v);
void pb_int(struct pbuf *p, uint32_t field, int64_t v);
/* Wire types 1 and 5: fixed64/sfixed64/double, fixed32. Little-endian. */
void pb_fixed64(struct pbuf *p, uint32_t field, uint64_t v);
void pb_double(struct pbuf *p, uint32_t field, double v);
void pb_fixed32(struct pbuf *p, uint32_t field, uint32_t v);
/* Wire type 2: bytes and strings (a string must be valid UTF-8: the caller's job). */
void pb_bytes(struct pbuf *p, uint32_t field, const void *data, size_t n);
void pb_string(struct pbuf *p, uint32_t field, const char *s);

/* A nested message: pb_begin(field), its fields, pb_end(). */
void pb_begin(struct pbuf *p, uint32_t field);
void pb_end(struct pbuf *p);

/* A packed repeated numeric field: pb_packed_begin(field), pb_packed_uint / _int for
 * each element, pb_end(). An empty one is still written (a zero-length record), which
 * decoders read as no elements. */
void pb_packed_begin(struct pbuf *p, uint32_t field);
void pb_packed_uint(struct pbuf *p, uint64_t v);
void pb_packed_int(struct pbuf *p, int64_t v);

/* 0, or -ENOMEM if any call failed to allocate. */
int pb_error(const struct pbuf *p);
/* The bytes written so far (every pb_begin closed); valid until the next call. */
const uint8_t *pb_data(const struct pbuf *p);
size_t pb_len(const struct pbuf *p);

#endif
