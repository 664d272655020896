/*
 * test_http.c - cli/http.c against a server on loopback started by the test: one
 * answer, the retry rules (503 twice then 200 arrives once; Retry-After honoured; a
 * 400 is never retried; a refused connection is retried until the timeout), headers
 * sent as given, and Retry-After's three date forms.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/http.h"

/* The server: answers the i-th connection with replies[i] (a whole HTTP response, or
 * "" to close without one) and appends each request it read to a log file. */
struct server {
    pid_t pid;
    int port;
    char log[64];
};

static void serve(int ls, const char *const *replies, int n, const char *log)
{
    for (int i = 0; i < n; i++) {
        int c = accept(ls, NULL, NULL);
        if (c < 0)
            _exit(1);
        char req[65536];
        size_t got = 0;
        /* Read the headers, then Content-Length bytes of body. */
        for (;;) {
            ssize_t k = read(c, req + got, sizeof(req) - 1 - got);
            if (k <= 0)
                break;
            got += (size_t)k;
            req[got] = '\0';
            char *end = strstr(req, "\r\n\r\n");
            if (end != NULL) {
                char *cl = strcasestr(req, "Content-Length:");
                size_t want = cl ? strtoul(cl + 15, NULL, 10) : 0;
                if (got >= (size_t)(end + 4 - req) + want)
                    break;
            }
        }
        FILE *f = fopen(log, "a");
        if (f != NULL) {
            fprintf(f, "=== request %d\n%.*s\n", i, (int)got, req);
            fclose(f);
        }
        if (replies[i][0] != '\0' && write(c, replies[i], strlen(replies[i])) < 0)
            _exit(1);
        close(c);
    }
    _exit(0);
}

static void server_start(struct server *s, const char *const *replies, int n)
{
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t al = sizeof(a);
    assert_true(ls >= 0);
    assert_int_equal(bind(ls, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(ls, 16), 0);
    assert_int_equal(getsockname(ls, (struct sockaddr *)&a, &al), 0);
    s->port = ntohs(a.sin_port);
    snprintf(s->log, sizeof(s->log), "/tmp/heapspan-http-test.%d.log", (int)getpid());
    unlink(s->log);
    s->pid = fork();
    assert_true(s->pid >= 0);
    if (s->pid == 0)
        serve(ls, replies, n, s->log);
    close(ls);
}

/* Waits for the server and returns how many requests it logged. */
static int server_stop(struct server *s, char *text, size_t cap)
{
    int st;
    kill(s->pid, SIGTERM);
    waitpid(s->pid, &st, 0);
    FILE *f = fopen(s->log, "r");
    size_t n = f ? fread(text, 1, cap - 1, f) : 0;
    text[n] = '\0';
    if (f != NULL)
        fclose(f);
    unlink(s->log);
    int count = 0;
    for (const char *p = text; (p = strstr(p, "=== request")) != NULL; p++)
        count++;
    return count;
}

#define OK_REPLY "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
#define UNAVAILABLE \
    "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"

static struct http_request request(char *url, size_t cap, int port, const char *path)
{
    snprintf(url, cap, "http://127.0.0.1:%d%s", port, path);
    static const char *const headers[] = { "Authorization: secret-token-123", NULL };
    return (struct http_request){ .url = url,
                                  .content_type = "application/x-protobuf",
                                  .body = "\x0a\x00",
                                  .body_len = 2,
                                  .headers = headers,
                                  .timeout_ms = 10000 };
}

static void one_answer(void **state)
{
    (void)state;
    static const char *const replies[] = { OK_REPLY };
    struct server s;
    struct http_response res;
    char url[128], err[512], log[65536];
    server_start(&s, replies, 1);
    struct http_request req = request(url, sizeof(url), s.port, "/v1/traces");
    assert_int_equal(http_post(&req, &http_retry_default, &res, err, sizeof(err)), 0);
    assert_int_equal(res.status, 200);
    assert_string_equal(res.body, "ok");
    assert_int_equal(res.attempts, 1);
    http_response_fini(&res);
    assert_int_equal(server_stop(&s, log, sizeof(log)), 1);
    assert_non_null(strstr(log, "POST /v1/traces HTTP/1.1"));
    assert_non_null(strstr(log, "Content-Type: application/x-protobuf"));
    assert_non_null(strstr(log, "Authorization: secret-token-123"));
}

static void retries_503_then_200(void **state)
{
    (void)state;
    static const char *const replies[] = { UNAVAILABLE, UNAVAILABLE, OK_REPLY };
    struct server s;
    struct http_response res;
    char url[128], err[512], log[65536];
    server_start(&s, replies, 3);
    struct http_request req = request(url, sizeof(url), s.port, "/");
    assert_int_equal(http_post(&req, &http_retry_default, &res, err, sizeof(err)), 0);
    assert_int_equal(res.status, 200);
    assert_int_equal(res.attempts, 3);
    http_response_fini(&res);
    assert_int_equal(server_stop(&s, log, sizeof(log)), 3);
}

static void retry_after_is_honoured(void **state)
{
    (void)state;
    static const char *const replies[] = {
        "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 2\r\nContent-Length: 0\r\n"
        "Connection: close\r\n\r\n",
        OK_REPLY
    };
    struct server s;
    struct http_response res;
    char url[128], err[512], log[65536];
    struct timespec t0, t1;
    server_start(&s, replies, 2);
    struct http_request req = request(url, sizeof(url), s.port, "/");
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(http_post(&req, &http_retry_default, &res, err, sizeof(err)), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double waited = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_int_equal(res.status, 200);
    assert_int_equal(res.attempts, 2);
    assert_true(waited >= 2.0); /* the server's 2 s, not the policy's 0.5 s */
    http_response_fini(&res);
    server_stop(&s, log, sizeof(log));
}

static void client_error_is_not_retried(void **state)
{
    (void)state;
    static const char *const replies[] = {
        "HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbad", OK_REPLY
    };
    struct server s;
    struct http_response res;
    char url[128], err[512], log[65536];
    server_start(&s, replies, 2);
    struct http_request req = request(url, sizeof(url), s.port, "/");
    assert_int_equal(http_post(&req, &http_retry_default, &res, err, sizeof(err)), 0);
    assert_int_equal(res.status, 400);
    assert_string_equal(res.body, "bad");
    assert_int_equal(res.attempts, 1);
    http_response_fini(&res);
    assert_int_equal(server_stop(&s, log, sizeof(log)), 1);
}

static void refused_until_the_timeout(void **state)
{
    (void)state;
    /* A port nothing listens on: bind one, note it, close it. */
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t al = sizeof(a);
    assert_int_equal(bind(ls, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(ls, (struct sockaddr *)&a, &al), 0);
    close(ls);
    char url[128], err[512];
    struct http_response res;
    struct http_request req = request(url, sizeof(url), ntohs(a.sin_port), "/");
    req.timeout_ms = 1500;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = http_post(&req, &http_retry_default, &res, err, sizeof(err));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_int_equal(rc, -ECONNREFUSED);
    assert_true(res.attempts >= 2);
    assert_true(took < 2.5);
    assert_non_null(strstr(err, url));
    assert_null(strstr(err, "secret-token-123")); /* headers never in messages */
    http_response_fini(&res);
}

static void malformed_url(void **state)
{
    (void)state;
    char err[512];
    struct http_response res;
    struct http_request req = { .url = "htp:/nowhere", .body = "", .timeout_ms = 1000 };
    int rc = http_post(&req, &http_retry_default, &res, err, sizeof(err));
    assert_true(rc == -EINVAL);
    assert_int_equal(res.attempts, 1);
    http_response_fini(&res);
}

static void retry_after_forms(void **state)
{
    (void)state;
    double now = 784111777.0; /* Sun, 06 Nov 1994 08:49:37 GMT */
    assert_true(http_parse_retry_after(" 120", now) == 120);
    assert_true(http_parse_retry_after("Sun, 06 Nov 1994 08:50:37 GMT", now) == 60);
    assert_true(http_parse_retry_after("Sunday, 06-Nov-94 08:51:37 GMT", now) == 120);
    assert_true(http_parse_retry_after("Sun Nov  6 08:49:47 1994", now) == 10);
    assert_true(http_parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now) == 0);
    assert_true(http_parse_retry_after("soon", now) == -1);
    assert_true(http_parse_retry_after("12s", now) == -1);
    assert_true(http_status_retryable(503) && http_status_retryable(429));
    assert_false(http_status_retryable(500) || http_status_retryable(400));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_answer),
        cmocka_unit_test(retries_503_then_200),
        cmocka_unit_test(retry_after_is_honoured),
        cmocka_unit_test(client_error_is_not_retried),
        cmocka_unit_test(refused_until_the_timeout),
        cmocka_unit_test(malformed_url),
        cmocka_unit_test(retry_after_forms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
