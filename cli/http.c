/* http.c - see http.h. */
#include "cli/http.h"

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

const struct http_retry http_retry_default = { 0.5, 2.0, 5.0, 0.25 };

/* ---- libcurl, loaded on first use ---- */

static struct {
    void *lib;
    CURLcode (*global_init)(long);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_perform)(CURL *);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    void (*easy_cleanup)(CURL *);
    const char *(*easy_strerror)(CURLcode);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
} curl;

static int load_curl(char *err, size_t errcap)
{
    if (curl.lib != NULL)
        return 0;
    void *lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        snprintf(err, errcap,
                 "cannot load libcurl (libcurl.so.4), which exports need: install Debian's "
                 "libcurl4 package");
        return -ENOSYS;
    }
#define SYM(field, name)                                                                       \
    do {                                                                                       \
        *(void **)&curl.field = dlsym(lib, name);                                              \
        if (curl.field == NULL) {                                                              \
            snprintf(err, errcap, "libcurl.so.4 lacks %s; install a libcurl of 7.68 or later", \
                     name);                                                                    \
            dlclose(lib);                                                                      \
            return -ENOSYS;                                                                    \
        }                                                                                      \
    } while (0)
    SYM(global_init, "curl_global_init");
    SYM(easy_init, "curl_easy_init");
    SYM(easy_setopt, "curl_easy_setopt");
    SYM(easy_perform, "curl_easy_perform");
    SYM(easy_getinfo, "curl_easy_getinfo");
    SYM(easy_cleanup, "curl_easy_cleanup");
    SYM(easy_strerror, "curl_easy_strerror");
    SYM(slist_append, "curl_slist_append");
    SYM(slist_free_all, "curl_slist_free_all");
#undef SYM
    if (curl.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errcap, "libcurl failed to initialise");
        dlclose(lib);
        return -EIO;
    }
    curl.lib = lib;
    return 0;
}

/* ---- Retry-After ---- */

double http_parse_retry_after(const char *value, double now)
{
    static const char *const date_forms[] = {
        "%a, %d %b %Y %H:%M:%S GMT", /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
        "%A, %d-%b-%y %H:%M:%S GMT", /* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT */
        "%a %b %e %H:%M:%S %Y",      /* asctime: Sun Nov  6 08:49:37 1994 */
    };
    while (*value == ' ' || *value == '\t')
        value++;
    if (isdigit((unsigned char)*value)) {
        char *end;
        errno = 0;
        unsigned long long s = strtoull(value, &end, 10);
        while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
            end++;
        if (errno != 0 || *end != '\0')
            return -1;
        return (double)s;
    }
    for (size_t i = 0; i < sizeof(date_forms) / sizeof(date_forms[0]); i++) {
        struct tm tm;
        memset(&tm, 0, sizeof(tm));
        const char *end = strptime(value, date_forms[i], &tm);
        if (end == NULL)
            continue;
        while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
            end++;
        if (*end != '\0')
            continue;
        double at = (double)timegm(&tm);
        return at > now ? at - now : 0;
    }
    return -1;
}

/* ---- one attempt ---- */

struct sink {
    struct http_response *res;
    size_t cap;
    bool oom;
};

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    struct sink *s = arg;
    size_t len = size * n, keep = len;
    struct http_response *r = s->res;

    if (r->body_len + keep > HTTP_MAX_BODY)
        keep = HTTP_MAX_BODY - r->body_len; /* the rest is read and dropped */
    if (keep > 0) {
        if (r->body_len + keep + 1 > s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 4096;
            while (cap < r->body_len + keep + 1)
                cap *= 2;
            char *b = realloc(r->body, cap);
            if (b == NULL) {
                s->oom = true;
                return 0; /* makes libcurl stop with CURLE_WRITE_ERROR */
            }
            r->body = b;
            s->cap = cap;
        }
        memcpy(r->body + r->body_len, data, keep);
        r->body_len += keep;
        r->body[r->body_len] = '\0';
    }
    return len;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
    struct http_response *r = arg;
    size_t len = size * n;
    static const char name[] = "retry-after:";

    if (len > sizeof(name) - 1 && len < 256 && strncasecmp(data, name, sizeof(name) - 1) == 0) {
        char value[256];
        memcpy(value, data + sizeof(name) - 1, len - (sizeof(name) - 1));
        value[len - (sizeof(name) - 1)] = '\0';
        r->retry_after = http_parse_retry_after(value, (double)time(NULL));
    }
    return len;
}

/* What a transport failure means for the caller, and whether to try again. */
static int transport_error(CURLcode c, bool *retry)
{
    *retry = false;
    switch (c) {
    case CURLE_COULDNT_CONNECT:
        *retry = true;
        return -ECONNREFUSED;
    case CURLE_GOT_NOTHING: /* closed without a response */
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
        *retry = true;
        return -ECONNRESET;
    case CURLE_OPERATION_TIMEDOUT:
        return -ETIMEDOUT;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        return -EINVAL;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return -EHOSTUNREACH;
    case CURLE_OUT_OF_MEMORY:
    case CURLE_WRITE_ERROR:
        return -ENOMEM;
    default:
        return -EIO;
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One POST with what is left of the timeout. 0 with res filled, or -errno. */
static int attempt(const struct http_request *req, long timeout_ms, struct http_response *res,
                   bool *retry, char *err, size_t errcap)
{
    CURL *h = curl.easy_init();
    struct curl_slist *hdrs = NULL;
    struct sink sink = { res, 0, false };
    char line[256];
    int rc = 0;

    *retry = false;
    free(res->body);
    res->body = NULL;
    res->body_len = 0;
    res->status = 0;
    res->retry_after = -1;
    if (h == NULL) {
        snprintf(err, errcap, "%s: out of memory", req->url);
        return -ENOMEM;
    }
    snprintf(line, sizeof(line), "Content-Type: %s",
             req->content_type ? req->content_type : "application/octet-stream");
    hdrs = curl.slist_append(hdrs, line);
    if (req->content_encoding != NULL) {
        snprintf(line, sizeof(line), "Content-Encoding: %s", req->content_encoding);
        hdrs = curl.slist_append(hdrs, line);
    }
    hdrs = curl.slist_append(hdrs, "Expect:"); /* no 100-continue round trip */
    for (size_t i = 0; req->headers != NULL && req->headers[i] != NULL; i++)
        hdrs = curl.slist_append(hdrs, req->headers[i]);
    if (hdrs == NULL) {
        curl.easy_cleanup(h);
        snprintf(err, errcap, "%s: out of memory", req->url);
        return -ENOMEM;
    }
    curl.easy_setopt(h, CURLOPT_URL, req->url);
    curl.easy_setopt(h, CURLOPT_POST, 1L);
    curl.easy_setopt(h, CURLOPT_POSTFIELDS, req->body);
    curl.easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    curl.easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl.easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl.easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    curl.easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl.easy_setopt(h, CURLOPT_HEADERDATA, res);
    curl.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl.easy_setopt(h, CURLOPT_USERAGENT, "heapspan");
    curl.easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    if (timeout_ms > 0)
        curl.easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    if (req->ca_file != NULL)
        curl.easy_setopt(h, CURLOPT_CAINFO, req->ca_file);
    if (req->client_cert != NULL)
        curl.easy_setopt(h, CURLOPT_SSLCERT, req->client_cert);
    if (req->client_key != NULL)
        curl.easy_setopt(h, CURLOPT_SSLKEY, req->client_key);
    res->attempts++;
    CURLcode c = curl.easy_perform(h);
    if (c == CURLE_OK) {
        curl.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &res->status);
    } else if (sink.oom) {
        rc = -ENOMEM;
        snprintf(err, errcap, "%s: out of memory reading the response", req->url);
    } else {
        rc = transport_error(c, retry);
        snprintf(err, errcap, "%s: %s", req->url, curl.easy_strerror(c));
    }
    curl.slist_free_all(hdrs);
    curl.easy_cleanup(h);
    return rc;
}

bool http_status_retryable(long status)
{
    return status == 429 || status == 502 || status == 503 || status == 504;
}

/* A wait of d seconds, +-jitter of it at random. */
static double jittered(double d, double jitter)
{
    static unsigned seed;
    if (seed == 0)
        seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    double u = (double)rand_r(&seed) / RAND_MAX; /* 0..1 */
    return d * (1 + jitter * (2 * u - 1));
}

static void sleep_s(double s)
{
    struct timespec ts = { (time_t)s, (long)((s - floor(s)) * 1e9) };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int http_post(const struct http_request *req, const struct http_retry *policy,
              struct http_response *res, char *err, size_t errcap)
{
    double start = now_s(), limit = req->timeout_ms > 0 ? req->timeout_ms / 1e3 : INFINITY;
    double delay = policy != NULL ? policy->first_delay : 0;
    int rc = load_curl(err, errcap);

    memset(res, 0, sizeof(*res));
    res->retry_after = -1;
    if (rc < 0)
        return rc;
    for (;;) {
        double left = limit - (now_s() - start);
        if (left <= 0) {
            snprintf(err, errcap, "%s: no answer within the timeout of %ld ms", req->url,
                     req->timeout_ms);
            return -ETIMEDOUT;
        }
        bool retry;
        long ms = isinf(left) ? 0 : (long)ceil(left * 1e3);
        rc = attempt(req, ms, res, &retry, err, errcap);
        if (rc == 0)
            retry = http_status_retryable(res->status);
        if (!retry || policy == NULL)
            break;
        double wait = res->retry_after >= 0 ? res->retry_after : jittered(delay, policy->jitter);
        left = limit - (now_s() - start);
        if (wait >= left) {
            /* The next attempt could not end in time: the last answer stands. */
            if (rc == 0)
                break;
            snprintf(err + strlen(err), errcap - strlen(err),
                     " (after %d attempts, within the timeout of %ld ms)", res->attempts,
                     req->timeout_ms);
            return rc;
        }
        sleep_s(wait);
        delay = fmin(delay * policy->factor, policy->max_delay);
    }
    return rc;
}

void http_response_fini(struct http_response *res)
{
    free(res->body);
    res->body = NULL;
    res->body_len = 0;
}
