/* logfmt.c - the format's one piece of code: CRC-32C for chunk payloads. */
#include "format/logfmt.h"

#include <cpuid.h>
#include <stdbool.h>
#include <stddef.h>

#define CRC32C_POLY 0x82f63b78u /* reflected Castagnoli polynomial */

static uint32_t crc_table[8][256];
static volatile int crc_table_ready;

/* Builds the slice-by-8 tables. Two threads may race here; both write the same
 * values, so the race is benign and no lock is needed in the shim. */
static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (CRC32C_POLY & -(c & 1));
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int s = 1; s < 8; s++)
            crc_table[s][i] = (crc_table[s - 1][i] >> 8) ^ crc_table[0][crc_table[s - 1][i] & 0xff];
    __atomic_store_n(&crc_table_ready, 1, __ATOMIC_RELEASE);
}

/* The SSE4.2 crc32 instruction computes CRC-32C: ~8x the table's speed. */
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const uint8_t *p,
                                                         uint64_t len)
{
    uint64_t c = crc;
    while (len >= 8) {
        uint64_t w;
        __builtin_memcpy(&w, p, 8);
        c = __builtin_ia32_crc32di(c, w);
        p += 8;
        len -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (len--)
        c32 = __builtin_ia32_crc32qi(c32, *p++);
    return c32;
}

/* One cpuid, the first time a checksum is needed. __builtin_cpu_supports would link
 * libgcc's CPU-model constructor into the shim, which runs dozens of cpuid
 * instructions in every process at load (each a trap to the hypervisor on a VM: 5% of
 * the shim's start-up). */
static bool have_sse42(void)
{
    static int known; /* 0 not yet asked, 1 no, 2 yes */
    int k = __atomic_load_n(&known, __ATOMIC_RELAXED);

    if (k == 0) {
        unsigned a, b, c, d;
        k = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSE4_2) ? 2 : 1;
        __atomic_store_n(&known, k, __ATOMIC_RELAXED);
    }
    return k == 2;
}

uint32_t lf_crc32c(uint32_t crc, const void *buf, uint64_t len)
{
    const uint8_t *p = buf;

    if (have_sse42())
        return ~crc_hw(~crc, p, len);
    if (!__atomic_load_n(&crc_table_ready, __ATOMIC_ACQUIRE))
        crc_init();
    crc = ~crc;
    while (len >= 8) {
        uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                             (uint32_t)p[3] << 24);
        crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
              crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^ crc_table[3][p[4]] ^
              crc_table[2][p[5]] ^ crc_table[1][p[6]] ^ crc_table[0][p[7]];
        p += 8;
        len -= 8;
    }
    while (len--)
        crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
    return ~crc;
}
