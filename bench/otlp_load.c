/*
 * otlp_load.c - the load of the OTLP benchmark (bench/otlp-latency.sh): requests to
 * tests/progs/svc_cache over one loopback connection at a fixed rate, each one's
 * round-trip time measured; prints the count, p50, p99 and max in microseconds.
 *
 *   otlp_load PORT N RATE FIRST_KEY
 *
 * Open loop: request i is due at start + i / RATE, whether or not the previous reply
 * was slow, and its time counts from when it was due (a stall delays everything after
 * it, and every request it delays counts it: no coordinated omission). Requests
 * alternate a PUT of a new key (the server allocates) and a GET of it.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: otlp_load PORT N RATE FIRST_KEY\n");
        return 2;
    }
    int port = atoi(argv[1]), n = atoi(argv[2]);
    double rate = atof(argv[3]);
    unsigned long long first = strtoull(argv[4], NULL, 10);
    double *lat = malloc((size_t)n * sizeof(double));
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (lat == NULL || s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)) != 0) {
        perror("otlp_load: connect");
        return 2;
    }
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    double start = now();
    for (int i = 0; i < n; i++) {
        double due = start + i / rate, t;
        while ((t = now()) < due) {
            double left = due - t;
            struct timespec ts = { 0, (long)(left * 1e9) };
            if (left > 0.0002)
                nanosleep(&ts, NULL);
        }
        char req[64], rep[16];
        int len = snprintf(req, sizeof(req), "%s %llu\n", i % 2 ? "GET" : "PUT", first + i / 2);
        if (write(s, req, (size_t)len) != len) {
            perror("otlp_load: write");
            return 2;
        }
        /* Replies are short lines: read to the newline. */
        size_t got = 0;
        while (got == 0 || rep[got - 1] != '\n') {
            ssize_t k = read(s, rep + got, sizeof(rep) - got);
            if (k <= 0) {
                fprintf(stderr, "otlp_load: the server closed the connection\n");
                return 2;
            }
            got += (size_t)k;
            if (got == sizeof(rep))
                break;
        }
        lat[i] = (now() - due) * 1e6;
    }
    close(s);
    qsort(lat, (size_t)n, sizeof(double), cmp);
    printf("%d %.1f %.1f %.1f\n", n, lat[n / 2], lat[(size_t)(n * 0.99)], lat[n - 1]);
    free(lat);
    return 0;
}
