/* cxxmap: a string-keyed cache in C++: std::unordered_map<std::string, std::string>
 * under N operations on pseudo-random keys from a key space of N/4.  An operation on a
 * key that is in the map erases it; on one that is not, inserts it with a fresh value.
 * Keys (24..47 bytes) and values (32..127 bytes) are longer than libstdc++'s 15-byte
 * in-place buffer, so every one is a heap block, and blocks are freed in random order,
 * as in a real cache.  About 1.5 allocations per operation (2.2M at N = 1.5M).
 *
 * At the end the map is checked against a plain array of what it should hold (which
 * keys are in, and the operation that wrote each value): check= counts mismatches.
 * allocs= is every allocation this program's code makes: three per insert (the node,
 * the key's and the value's copies), one per rehash (the new bucket array, seen as a
 * change of bucket_count), and four set-up blocks (two reserved string buffers, two
 * arrays).  The C++ runtime's own (its start-up pool, stdio) come on top.
 * usage: cxxmap [N=1500000]                                                          */
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include "common.h"

namespace
{

const char ALNUM[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/* The key of id: a fixed function of id, 24..47 bytes. */
void make_key(std::string &out, uint64_t id)
{
    char buf[64];
    uint64_t h = id * 0x9E3779B97F4A7C15ull;
    int n = snprintf(buf, sizeof buf, "session:%08" PRIx64 ":", id);
    size_t len = 24 + (h >> 59) % 24;
    while ((size_t)n < len) {
        h = h * 6364136223846793005ull + 1442695040888963407ull;
        buf[n++] = ALNUM[(h >> 33) % (sizeof ALNUM - 1)];
    }
    out.assign(buf, len); /* within the reserved capacity: no allocation */
}

/* The value written by operation op: 32..127 bytes. */
void make_value(std::string &out, uint64_t op)
{
    char buf[128];
    uint64_t h = (op + 1) * 0xD1B54A32D192ED03ull;
    size_t len = 32 + (h >> 58) % 96;
    for (size_t i = 0; i < len; i++) {
        h ^= h >> 29;
        h *= 0xBF58476D1CE4E5B9ull;
        buf[i] = ALNUM[(h >> 40) % (sizeof ALNUM - 1)];
    }
    out.assign(buf, len);
}

uint64_t fnv(const std::string &s, uint64_t h)
{
    for (unsigned char c : s)
        h = (h ^ c) * 0x100000001B3ull;
    return h;
}

} // namespace

int main(int argc, char **argv)
{
    long n = arg_long(argc, argv, 1, 1500000);
    if (n < 4) {
        fprintf(stderr, "cxxmap: N must be at least 4\n");
        return 2;
    }
    uint64_t space = (uint64_t)n / 4;
    std::string key, value;
    key.reserve(63);
    value.reserve(127);
    std::vector<uint8_t> present(space); /* the model the map is checked against */
    std::vector<uint32_t> written(space);
    long allocs = 4, inserts = 0, erases = 0, rehashes = 0;

    std::unordered_map<std::string, std::string> cache;
    size_t buckets = cache.bucket_count();
    uint64_t rng = 0x2545F4914F6CDD1Dull;
    for (long op = 0; op < n; op++) {
        uint64_t id = xs64(&rng) % space;
        make_key(key, id);
        auto it = cache.find(key);
        if (it != cache.end()) {
            cache.erase(it);
            present[id] = 0;
            erases++;
            continue;
        }
        make_value(value, (uint64_t)op);
        cache.try_emplace(key, value);
        present[id] = 1;
        written[id] = (uint32_t)op;
        inserts++;
        allocs += 3;
        if (cache.bucket_count() != buckets) {
            buckets = cache.bucket_count();
            rehashes++;
            allocs++;
        }
    }

    /* The check, and an order-independent checksum of the contents. */
    long check = 0, expect_size = 0;
    uint64_t sum = 0;
    for (uint64_t id = 0; id < space; id++) {
        if (!present[id])
            continue;
        expect_size++;
        make_key(key, id);
        make_value(value, written[id]);
        auto it = cache.find(key);
        if (it == cache.end() || it->second != value)
            check++;
        else
            sum += fnv(value, fnv(key, 0xCBF29CE484222325ull));
    }
    if ((long)cache.size() != expect_size)
        check++;
    size_t size = cache.size();
    cache.clear();
    printf("cxxmap: ops=%ld inserts=%ld erases=%ld size=%zu rehashes=%ld allocs=%ld "
           "checksum=%016" PRIx64 " check=%ld maxrss_kb=%ld cpu_s=%.3f\n",
           n, inserts, erases, size, rehashes, allocs, sum, check, maxrss_kb(), cpu_s());
    return check == 0 ? 0 : 1;
}
