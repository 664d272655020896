/*
 * svc_cache.c - a small service for the service test (tests/diff-tests.sh), and the
 * client that loads it from another process, over loopback.
 *
 *   svc_cache serve READY          listens on 127.0.0.1 at a port the kernel picks,
 *                                  writes "PID PORT\n" to READY, serves one connection
 *                                  at a time until a QUIT request, then exits 0
 *   svc_cache load PORT FIRST N    one connection: PUT of keys FIRST .. FIRST+N-1, then
 *                                  GET of each, waiting for every reply; exits 0 when
 *                                  all were answered
 *   svc_cache quit PORT            asks the server to exit
 *
 * The server's heap, by construction: cache_init callocs 1024 bucket pointers once;
 * each connection's read buffer (conn_open, 4096 bytes) lives until the connection
 * closes; each request line is copied into a 128-byte buffer (parse_request) freed
 * before the reply; a PUT of a key the cache lacks inserts one 200-byte entry
 * (cache_insert) that is never freed. So PUTs of N new keys grow the live heap by
 * exactly N x 200 bytes at cache_insert, and nothing else stays live. Requests are
 * "PUT key\n", "GET key\n" and "QUIT\n"; replies "OK\n", "HIT\n", "MISS\n".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define N_BUCKETS   1024
#define ENTRY_BYTES 200
#define BUF_BYTES   4096

struct entry {
    struct entry *next;
    uint64_t key;
    char value[ENTRY_BYTES - sizeof(struct entry *) - sizeof(uint64_t)];
};
_Static_assert(sizeof(struct entry) == ENTRY_BYTES, "the entry's size is the test's truth");

static struct entry **buckets;

__attribute__((noipa)) static void cache_init(void)
{
    buckets = calloc(N_BUCKETS, sizeof(*buckets));
    if (buckets == NULL)
        exit(3);
}

static struct entry *cache_find(uint64_t key)
{
    for (struct entry *e = buckets[key % N_BUCKETS]; e != NULL; e = e->next)
        if (e->key == key)
            return e;
    return NULL;
}

__attribute__((noipa)) static void cache_insert(uint64_t key)
{
    struct entry *e = malloc(sizeof(*e));
    if (e == NULL)
        exit(3);
    memset(e, 0, sizeof(*e));
    e->key = key;
    e->next = buckets[key % N_BUCKETS];
    buckets[key % N_BUCKETS] = e;
}

/* Handles one request line; its reply in *reply. Returns 1 for QUIT. */
__attribute__((noipa)) static int parse_request(const char *line, size_t len, const char **reply)
{
    char *req = malloc(128);
    int quit = 0;

    if (req == NULL)
        exit(3);
    if (len > 127)
        len = 127;
    memcpy(req, line, len);
    req[len] = '\0';
    uint64_t key = strtoull(req + 4, NULL, 10);
    if (!strncmp(req, "PUT ", 4)) {
        if (cache_find(key) == NULL)
            cache_insert(key);
        *reply = "OK\n";
    } else if (!strncmp(req, "GET ", 4)) {
        *reply = cache_find(key) != NULL ? "HIT\n" : "MISS\n";
    } else {
        quit = !strcmp(req, "QUIT");
        *reply = "OK\n";
    }
    free(req);
    return quit;
}

static int write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, s, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        s += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Serves one connection; returns 1 after a QUIT. */
__attribute__((noipa)) static int conn_open(int fd)
{
    char *buf = malloc(BUF_BYTES);
    size_t have = 0;
    int quit = 0;

    if (buf == NULL)
        exit(3);
    while (!quit) {
        ssize_t n = read(fd, buf + have, BUF_BYTES - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        have += (size_t)n;
        char *nl;
        while (!quit && (nl = memchr(buf, '\n', have)) != NULL) {
            const char *reply;
            size_t len = (size_t)(nl - buf);
            quit = parse_request(buf, len, &reply);
            if (write_all(fd, reply, strlen(reply)) != 0)
                quit = quit ? 1 : -1;
            memmove(buf, nl + 1, have - len - 1);
            have -= len + 1;
        }
        if (quit < 0)
            break;
    }
    free(buf);
    return quit > 0;
}

static int serve(const char *ready)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(s, 16) != 0 ||
        getsockname(s, (struct sockaddr *)&a, &len) != 0)
        return 4;
    cache_init();
    char tmp[4096], line[64];
    snprintf(tmp, sizeof(tmp), "%s.tmp", ready);
    int n = snprintf(line, sizeof(line), "%d %d\n", (int)getpid(), (int)ntohs(a.sin_port));
    FILE *f = fopen(tmp, "w");
    if (f == NULL || fwrite(line, 1, (size_t)n, f) != (size_t)n || fclose(f) != 0 ||
        rename(tmp, ready) != 0)
        return 4;
    for (;;) {
        int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0 && errno == EINTR) /* the marker signal */
            continue;
        if (c < 0)
            return 5;
        int quit = conn_open(c);
        close(c);
        if (quit)
            return 0;
    }
}

static int dial(const char *port)
{
    struct sockaddr_in a = { .sin_family = AF_INET,
                             .sin_port = htons((uint16_t)atoi(port)),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)) != 0) {
        perror("svc_cache: connect");
        exit(6);
    }
    return s;
}

/* Sends one request and waits for its one-line reply. */
static void request(int s, const char *req)
{
    char reply[16];
    size_t got = 0;

    if (write_all(s, req, strlen(req)) != 0)
        exit(7);
    while (got == 0 || reply[got - 1] != '\n') {
        ssize_t n = read(s, reply + got, sizeof(reply) - got);
        if (n <= 0 || got + (size_t)n >= sizeof(reply))
            exit(8);
        got += (size_t)n;
    }
}

int main(int argc, char **argv)
{
    char req[64];

    if (argc == 3 && !strcmp(argv[1], "serve"))
        return serve(argv[2]);
    if (argc == 5 && !strcmp(argv[1], "load")) {
        int s = dial(argv[2]);
        long first = atol(argv[3]), n = atol(argv[4]);
        for (int get = 0; get < 2; get++)
            for (long k = first; k < first + n; k++) {
                snprintf(req, sizeof(req), "%s %ld\n", get ? "GET" : "PUT", k);
                request(s, req);
            }
        close(s);
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "quit")) {
        int s = dial(argv[2]);
        request(s, "QUIT\n");
        close(s);
        return 0;
    }
    fputs("usage: svc_cache serve READY | load PORT FIRST N | quit PORT\n", stderr);
    return 2;
}
