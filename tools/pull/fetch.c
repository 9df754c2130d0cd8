/* fetch.c: the network half of `airgap pull` -- list a Hugging Face repo,
 * pick the file, download it resumably, verify it, and move it into the
 * cache. The only code in airgap that opens a connection.
 *
 * Protocol (Hugging Face's public API, or any server that speaks it):
 *   GET {endpoint}/api/models/{repo}/tree/main?recursive=true
 *       -> JSON array of {type, path, size, lfs: {oid (sha256 hex), size}}
 *       (large listings come in pages linked by "Link: <url>; rel=\"next\"")
 *   GET {endpoint}/{repo}/resolve/main/{path}   (302 to a CDN; Range: bytes=N-)
 * HF_TOKEN goes in "Authorization: Bearer"; libcurl drops it on a redirect
 * to another host, so the CDN never sees it.
 *
 * Integrity: bytes go to FILE.partial; FILE.partial.meta records the sha256
 * and size the listing promised, so a resume against a changed remote file
 * starts over instead of splicing two versions. On resume the bytes already
 * on disk are hashed first, then the new ones while they stream, so the file
 * is read once. Only when size and sha256 match lfs.oid is the partial
 * fsync'ed and renamed to FILE: a half file never has the final name.
 * Mismatch deletes the partial (it can never become right) and says so.
 *
 * Resume answers: 206 appends (after checking Content-Range starts where we
 * are), 200 means the server ignored Range (truncate, start over), 416 means
 * nothing left to send (verify what we have; if it is short, start over
 * once). Dropped or stalled transfers (curl's low-speed limit, so a stall is
 * an error, not a hang) are resumed automatically a few times with backoff.
 * Ctrl-C sets a flag that the transfer callbacks turn into an abort, so the
 * partial is closed cleanly and kept. A flock on the partial keeps two
 * pulls of the same file apart.
 *
 * Rejected: a parallel/chunked downloader (more code and server load for a
 * one-time fetch that one connection already saturates); hashing after the
 * download (reads 500 MB+ twice); trusting ETag instead of lfs.oid (the CDN's
 * ETag is not always the content hash). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "airgap.h"
#include "pull_internal.h"
#include "sha256.h"

#include <cjson/cJSON.h>
#include "curl_lazy.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_ENDPOINT "https://huggingface.co"
#define MAX_LISTING (32u << 20)     /* a repo listing bigger than this is not a model repo */
#define MAX_FILES 100000u         /* entries in a repo listing, all pages together */
#define LISTING_TIMEOUT 300L        /* s for one listing page, however it trickles */
#define MAX_ERRBODY 4096u
#define SYNC_EVERY (64u << 20)      /* fdatasync the partial this often, so a reboot loses little */
#define RETRY_RESET (1u << 20)      /* an attempt that got this far resets the retry count */

/* ---- Ctrl-C ------------------------------------------------------------------ */

static volatile sig_atomic_t g_interrupted;
static struct sigaction g_old_sigint;

static void on_sigint(int sig)
{
    (void)sig;
    g_interrupted = 1;
}

/* While a pull talks to the network, SIGINT only sets a flag. */
static void sigint_begin(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    g_interrupted = 0;
    sigaction(SIGINT, &sa, &g_old_sigint);
}

static void sigint_end(void) { sigaction(SIGINT, &g_old_sigint, NULL); }

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- settings ---------------------------------------------------------------- */

typedef struct net {
    char endpoint[1024];
    char auth[2048];            /* "Authorization: Bearer ..." or "" */
    long low_time, low_limit, conn_timeout;
    int retries, delay_ms;
    int progress;               /* 0 none, 1 lines, 2 bar */
    bool quiet, force;
} net;

static void say(const net *n, const char *fmt, ...) PULL_PRINTF(2, 3);
static void say(const net *n, const char *fmt, ...)
{
    if (n->quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static int net_init(const ag_pull_opts *o, net *n)
{
    memset(n, 0, sizeof(*n));
    const char *ep = o && o->endpoint ? o->endpoint : getenv("HF_ENDPOINT");
    if (!ep || !*ep)
        ep = DEFAULT_ENDPOINT;
    if (strncmp(ep, "http://", 7) != 0 && strncmp(ep, "https://", 8) != 0)
        return ag_pull_fail(AG_PULL_ERR_USAGE,
                            "HF_ENDPOINT must start with http:// or https://, got '%s'", ep);
    if (!ag_pull_fmt(n->endpoint, sizeof(n->endpoint), "%s", ep))
        return ag_pull_fail(AG_PULL_ERR_USAGE, "HF_ENDPOINT is too long");
    size_t len = strlen(n->endpoint);
    while (len > 8 && n->endpoint[len - 1] == '/')
        n->endpoint[--len] = '\0';

    const char *tok = o && o->token ? o->token : getenv("HF_TOKEN");
    if (tok && *tok) {
        for (const char *p = tok; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                return ag_pull_fail(AG_PULL_ERR_USAGE,
                                    "HF_TOKEN contains a control character or line break");
        if (!ag_pull_fmt(n->auth, sizeof(n->auth), "Authorization: Bearer %s", tok))
            return ag_pull_fail(AG_PULL_ERR_USAGE, "HF_TOKEN is too long");
    }

    n->low_time = o && o->low_speed_time > 0 ? o->low_speed_time : 0;
    const char *e = getenv("AIRGAP_PULL_LOW_SPEED_TIME");
    if (!n->low_time && e && atol(e) > 0)
        n->low_time = atol(e);
    if (!n->low_time)
        n->low_time = 30;
    n->low_limit = o && o->low_speed_limit > 0 ? o->low_speed_limit : 1024;
    n->conn_timeout = o && o->connect_timeout > 0 ? o->connect_timeout : 30;
    n->retries = !o || o->retries == 0 ? 3 : o->retries < 0 ? 0 : o->retries;
    n->delay_ms = !o || o->retry_delay_ms == 0 ? 1000 : o->retry_delay_ms < 0 ? 0 : o->retry_delay_ms;
    n->quiet = o && o->quiet;
    n->force = o && o->force;
    if (n->quiet)
        n->progress = 0;
    else if (o && o->progress == 1)
        n->progress = 1;
    else if (o && o->progress == 2)
        n->progress = 2;
    else
        n->progress = isatty(STDERR_FILENO) ? 2 : 1;
    return AG_PULL_OK;
}

/* Percent-encodes a repo path, keeping '/' and RFC 3986 unreserved bytes. */
static bool url_path(const char *s, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t j = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
            if (j + 1 >= cap)
                return false;
            out[j++] = (char)c;
        } else {
            if (j + 3 >= cap)
                return false;
            out[j++] = '%';
            out[j++] = hex[c >> 4];
            out[j++] = hex[c & 15];
        }
    }
    out[j] = '\0';
    return true;
}

/* ---- one HTTP request ---------------------------------------------------------- */

typedef struct membuf {
    char *p;
    size_t n, cap, limit;
} membuf;

static bool membuf_add(membuf *b, const char *p, size_t n)
{
    if (n > b->limit - b->n)
        return false;
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 4096;
        while (nc < b->n + n + 1)
            nc *= 2;
        char *np = realloc(b->p, nc);
        if (!np)
            return false;
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
    b->p[b->n] = '\0';
    return true;
}

/* Progress display: a redrawn bar on a terminal, a line every 10% or 10 s
 * otherwise. */
typedef struct progress {
    int mode;
    double t0, last;
    uint64_t b0, total;
    int last_decile, last_pct;
    bool drawn;                 /* a bar is on screen without its newline */
} progress;

static void fmt_eta(double s, char *buf, size_t cap)
{
    if (s < 0 || s > 359999)
        snprintf(buf, cap, "--:--");
    else if (s >= 3600)
        snprintf(buf, cap, "%d:%02d:%02d", (int)s / 3600, (int)s / 60 % 60, (int)s % 60);
    else
        snprintf(buf, cap, "%d:%02d", (int)s / 60, (int)s % 60);
}

static void progress_show(progress *p, uint64_t cur, bool final)
{
    if (!p->mode || !p->total)
        return;
    double t = now_s(), dt = t - p->t0;
    int pct = (int)(cur * 100 / p->total);
    if (!final) {
        if (p->mode == 2 && t - p->last < 0.1)
            return;
        if (p->mode == 1 && pct / 10 <= p->last_decile && t - p->last < 10)
            return;
    }
    if (final && p->mode == 1 && p->last_pct == 100)
        return; /* the 100% line is already out */
    p->last = t;
    p->last_decile = pct / 10;
    p->last_pct = pct;
    double rate = dt > 0 ? (double)(cur - p->b0) / dt : 0;
    char done[32], all[32], r[32], eta[32];
    ag_pull_fmt_size(cur, done, sizeof(done));
    ag_pull_fmt_size(p->total, all, sizeof(all));
    ag_pull_fmt_size((uint64_t)rate, r, sizeof(r));
    fmt_eta(cur >= p->total ? 0 : rate > 0 ? (double)(p->total - cur) / rate : -1, eta, sizeof(eta));
    if (p->mode == 2) {
        char bar[31];
        int fill = (int)(cur * 30 / p->total);
        for (int i = 0; i < 30; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[30] = '\0';
        fprintf(stderr, "\r%3d%% [%s] %s / %s  %s/s  ETA %s\x1b[K", pct, bar, done, all, r, eta);
        p->drawn = true;
        if (final) {
            fputc('\n', stderr);
            p->drawn = false;
        }
    } else {
        fprintf(stderr, "%3d%%  %s of %s  %s/s  ETA %s\n", pct, done, all, r, eta);
    }
    fflush(stderr);
}

/* Ends a bar line so that a message can follow. */
static void progress_break(progress *p)
{
    if (p->drawn) {
        fputc('\n', stderr);
        p->drawn = false;
    }
}

/* State of one request; for downloads also of the partial file. */
typedef struct xfer {
    CURL *curl;
    char errbuf[CURL_ERROR_SIZE];
    long status;                /* status of the latest response (each redirect hop resets it) */
    int64_t cr_start, cr_total; /* its Content-Range, or -1 */
    char xerr[256];             /* its X-Error-Message header */
    char next[2048];            /* its Link rel="next" URL (listing pages), or "" */
    membuf body;                /* the body of a listing, or of an error answer */
    int err;                    /* an AG_PULL_ERR_* the callbacks aborted with (text is set) */
    /* downloads only */
    int fd;
    bool is_download, decided;
    uint64_t off, total, since_sync;
    ag_sha256 sha;
    const char *file;           /* for messages */
    bool restarted;             /* the server ignored Range (said once) */
    const net *n;
    progress *prog;
} xfer;

static size_t on_header(char *p, size_t sz, size_t nm, void *u)
{
    xfer *x = u;
    size_t n = sz * nm;
    char line[512];
    size_t len = n < sizeof(line) - 1 ? n : sizeof(line) - 1;
    memcpy(line, p, len);
    line[len] = '\0';
    line[strcspn(line, "\r\n")] = '\0';
    if (!strncmp(line, "HTTP/", 5)) {
        const char *sp = strchr(line, ' ');
        x->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        x->cr_start = x->cr_total = -1;
        x->xerr[0] = '\0';
        x->next[0] = '\0';
    } else if (!strncasecmp(line, "Content-Range:", 14)) {
        unsigned long long a, b, t;
        if (sscanf(line + 14, " bytes %llu-%llu/%llu", &a, &b, &t) == 3) {
            x->cr_start = (int64_t)a;
            x->cr_total = (int64_t)t;
        }
    } else if (!strncasecmp(line, "Link:", 5)) {
        /* Link: <https://...&cursor=...>; rel="next" */
        const char *lt = strchr(line, '<'), *gt = lt ? strchr(lt, '>') : NULL;
        if (gt && strstr(gt, "rel=\"next\""))
            ag_pull_fmt(x->next, sizeof(x->next), "%.*s", (int)(gt - lt - 1), lt + 1);
    } else if (!strncasecmp(line, "X-Error-Message:", 16)) {
        const char *v = line + 16;
        while (*v == ' ')
            v++;
        ag_pull_fmt(x->xerr, sizeof(x->xerr), "%s", v);
    }
    return n;
}

static int xfer_abort(xfer *x, int code) /* error text already set */
{
    x->err = code;
    return 0;
}

/* First body bytes of a download: decide from the status what they are. */
static int decide(xfer *x)
{
    x->decided = true;
    if (x->status == 206) {
        if (x->cr_start != (int64_t)x->off)
            return xfer_abort(x, ag_pull_fail(AG_PULL_ERR_PROTOCOL,
                                              "server resumed %s at byte %lld, not %llu as asked",
                                              x->file, (long long)x->cr_start,
                                              (unsigned long long)x->off));
    } else if (x->status == 200 && x->off > 0) {
        if (ftruncate(x->fd, 0) != 0)
            return xfer_abort(x, ag_pull_fail(AG_PULL_ERR_IO, "cannot truncate partial %s: %s",
                                              x->file, strerror(errno)));
        x->off = 0;
        x->prog->b0 = 0;
        ag_sha256_init(&x->sha);
        if (!x->restarted) {
            progress_break(x->prog);
            say(x->n, "the server ignored the resume request; downloading %s from the start",
                x->file);
        }
        x->restarted = true;
    } else if (x->status != 200) {
        return 1; /* an error answer: its body goes to x->body */
    }
    if ((x->status == 206 && x->cr_total >= 0 && (uint64_t)x->cr_total != x->total))
        return xfer_abort(x, ag_pull_fail(AG_PULL_ERR_PROTOCOL,
                                          "server says %s has %lld bytes but the repo listing "
                                          "said %llu",
                                          x->file, (long long)x->cr_total,
                                          (unsigned long long)x->total));
    return 1;
}

static size_t on_body(char *p, size_t sz, size_t nm, void *u)
{
    xfer *x = u;
    size_t n = sz * nm;
    if (g_interrupted)
        return xfer_abort(x, AG_PULL_ERR_INTERRUPTED);
    if (x->status >= 300 && x->status < 400)
        return n; /* body of a redirect hop */
    if (!x->is_download || (x->status != 200 && x->status != 206)) {
        if (!membuf_add(&x->body, p, n)) {
            if (x->is_download)
                return n; /* an error page: its start is enough */
            return xfer_abort(x, ag_pull_fail(AG_PULL_ERR_PROTOCOL,
                                              "the repo listing is larger than %u MiB",
                                              MAX_LISTING >> 20));
        }
        return n;
    }
    if (!x->decided && !decide(x))
        return 0;
    if (n > x->total - x->off)
        return xfer_abort(x, ag_pull_fail(AG_PULL_ERR_INTEGRITY,
                                          "server sent more than the %llu bytes the repo listing "
                                          "gives for %s",
                                          (unsigned long long)x->total, x->file));
    for (size_t done = 0; done < n;) {
        ssize_t w = pwrite(x->fd, p + done, n - done, (off_t)(x->off + done));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return xfer_abort(x, ag_pull_fail(AG_PULL_ERR_IO, "cannot write %s.partial: %s",
                                              x->file, w < 0 ? strerror(errno) : "short write"));
        done += (size_t)w;
    }
    ag_sha256_update(&x->sha, p, n);
    x->off += n;
    x->since_sync += n;
    if (x->since_sync >= SYNC_EVERY) {
        fdatasync(x->fd);
        x->since_sync = 0;
    }
    return n;
}

static int on_xfer(void *u, curl_off_t dlt, curl_off_t dln, curl_off_t ult, curl_off_t uln)
{
    xfer *x = u;
    (void)dlt, (void)dln, (void)ult, (void)uln;
    if (g_interrupted) {
        x->err = AG_PULL_ERR_INTERRUPTED;
        return 1;
    }
    if (x->is_download)
        progress_show(x->prog, x->off, false);
    return 0;
}

/* Runs one GET; afterwards x->status, x->body, x->err say how it went. */
static CURLcode perform(const net *n, xfer *x, const char *url, uint64_t range_from)
{
    const ag_curl_api *cu = ag_curl_load(NULL, 0);
    CURL *c = cu ? cu->easy_init() : NULL;
    struct curl_slist *hdrs = NULL;
    char range[32];
    if (!c)
        return CURLE_FAILED_INIT;
    x->curl = c;
    x->errbuf[0] = '\0';
    x->status = 0;
    x->cr_start = x->cr_total = -1;
    x->xerr[0] = '\0';
    x->next[0] = '\0';
    x->body.n = 0;
    x->err = 0;
    x->decided = false;
    if (n->auth[0])
        hdrs = cu->slist_append(hdrs, n->auth);
    cu->easy_setopt(c, CURLOPT_URL, url);
    cu->easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    cu->easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
#if LIBCURL_VERSION_NUM >= 0x075500
    cu->easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    cu->easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#endif
    cu->easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    cu->easy_setopt(c, CURLOPT_USERAGENT, "airgap-pull/0.1");
    cu->easy_setopt(c, CURLOPT_ERRORBUFFER, x->errbuf);
    cu->easy_setopt(c, CURLOPT_CONNECTTIMEOUT, n->conn_timeout);
    cu->easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, n->low_limit);
    cu->easy_setopt(c, CURLOPT_LOW_SPEED_TIME, n->low_time);
    cu->easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    if (hdrs)
        cu->easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    if (!x->is_download) {
        cu->easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
        cu->easy_setopt(c, CURLOPT_TIMEOUT, LISTING_TIMEOUT);
    }
    if (range_from > 0) {
        snprintf(range, sizeof(range), "%llu-", (unsigned long long)range_from);
        cu->easy_setopt(c, CURLOPT_RANGE, range);
    }
    cu->easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    cu->easy_setopt(c, CURLOPT_HEADERDATA, x);
    cu->easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    cu->easy_setopt(c, CURLOPT_WRITEDATA, x);
    cu->easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    cu->easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_xfer);
    cu->easy_setopt(c, CURLOPT_XFERINFODATA, x);
    CURLcode res = cu->easy_perform(c);
    cu->easy_cleanup(c);
    cu->slist_free_all(hdrs);
    x->curl = NULL;
    if (g_interrupted && !x->err)
        x->err = AG_PULL_ERR_INTERRUPTED;
    return res;
}

/* Failures worth resuming: the connection dropped or stalled mid-way. */
static bool transient(CURLcode r)
{
    return r == CURLE_PARTIAL_FILE || r == CURLE_RECV_ERROR || r == CURLE_SEND_ERROR ||
           r == CURLE_OPERATION_TIMEDOUT || r == CURLE_GOT_NOTHING || r == CURLE_HTTP2 ||
           r == CURLE_HTTP2_STREAM;
}

static const char *curl_reason(const xfer *x, CURLcode r)
{
    return x->errbuf[0] ? x->errbuf : ag_curl_load(NULL, 0)->easy_strerror(r);
}

/* The server's own explanation: JSON {"error": "..."} or X-Error-Message. */
static void server_message(const xfer *x, char *out, size_t cap)
{
    out[0] = '\0';
    if (x->body.n) {
        cJSON *j = cJSON_ParseWithLength(x->body.p, x->body.n);
        cJSON *e = j ? cJSON_GetObjectItemCaseSensitive(j, "error") : NULL;
        if (cJSON_IsString(e) && e->valuestring[0])
            snprintf(out, cap, ": %.160s", e->valuestring);
        cJSON_Delete(j);
    }
    if (!out[0] && x->xerr[0])
        snprintf(out, cap, ": %.160s", x->xerr);
}

/* The error for an HTTP answer that is not success (file NULL: the listing). */
static int http_fail(const net *n, const xfer *x, const char *repo, const char *file)
{
    char msg[200];
    server_message(x, msg, sizeof(msg));
    long s = x->status;
    if (s == 401 && n->auth[0])
        return ag_pull_fail(AG_PULL_ERR_AUTH,
                            "HF_TOKEN was not accepted for %s at %s (HTTP 401%s); check that the "
                            "token is valid and has access to the repo",
                            repo, n->endpoint, msg);
    if (s == 401)
        return ag_pull_fail(AG_PULL_ERR_AUTH,
                            "%s at %s needs a token (HTTP 401%s): it is private, gated or does "
                            "not exist; set HF_TOKEN to a Hugging Face access token",
                            repo, n->endpoint, msg);
    if (s == 403)
        return ag_pull_fail(AG_PULL_ERR_AUTH,
                            "access to %s at %s is forbidden (HTTP 403%s); accept the model's "
                            "terms on its page and check that HF_TOKEN has access",
                            repo, n->endpoint, msg);
    if (s == 404 && file)
        return ag_pull_fail(AG_PULL_ERR_NOT_FOUND, "%s not found in %s at %s (HTTP 404%s)", file,
                            repo, n->endpoint, msg);
    if (s == 404)
        return ag_pull_fail(AG_PULL_ERR_NOT_FOUND, "repository '%s' not found at %s (HTTP 404%s)",
                            repo, n->endpoint, msg);
    return ag_pull_fail(s >= 500 || s == 429 ? AG_PULL_ERR_NETWORK : AG_PULL_ERR_PROTOCOL,
                        "unexpected HTTP %ld from %s for %s%s%s%s", s, n->endpoint, repo,
                        file ? " " : "", file ? file : "", msg);
}

/* Sleeps before retry k (1-based); false if Ctrl-C came meanwhile. */
static bool backoff(const net *n, int k)
{
    double until = now_s() + (double)n->delay_ms / 1000.0 * (double)(1u << (k - 1 < 6 ? k - 1 : 6));
    while (!g_interrupted && now_s() < until) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return !g_interrupted;
}

static int interrupted(void)
{
    return ag_pull_fail(AG_PULL_ERR_INTERRUPTED,
                        "interrupted; run the same command again to resume");
}

/* ---- the listing ---------------------------------------------------------------- */

typedef struct rfile {
    char path[512];
    uint64_t size;
    char oid[65];               /* sha256 hex, "" when not an LFS file */
} rfile;

/* One page of the listing into *out; *next gets the next page's URL or "". */
static int fetch_page(const net *n, const char *repo, const char *url, membuf *out, char *next,
                      size_t next_cap)
{
    xfer x;
    memset(&x, 0, sizeof(x));
    x.body.limit = MAX_LISTING;
    x.n = n;
    for (int attempt = 0;; attempt++) {
        CURLcode r = perform(n, &x, url, 0);
        if (x.err == AG_PULL_ERR_INTERRUPTED) {
            free(x.body.p);
            return interrupted();
        }
        if (x.err) {
            free(x.body.p);
            return x.err;
        }
        bool retry = false;
        char why[CURL_ERROR_SIZE + 64];
        if (r == CURLE_OK && x.status == 200) {
            *out = x.body;
            /* follow only http(s) pages (curl refuses other protocols anyway) */
            bool ok = !strncmp(x.next, "http://", 7) || !strncmp(x.next, "https://", 8);
            snprintf(next, next_cap, "%s", ok ? x.next : "");
            return AG_PULL_OK;
        } else if (r == CURLE_OK && (x.status >= 500 || x.status == 429)) {
            snprintf(why, sizeof(why), "HTTP %ld", x.status);
            retry = true;
        } else if (r == CURLE_OK) {
            int rc = http_fail(n, &x, repo, NULL);
            free(x.body.p);
            return rc;
        } else {
            snprintf(why, sizeof(why), "%s", curl_reason(&x, r));
            retry = transient(r);
        }
        if (!retry || attempt >= n->retries) {
            free(x.body.p);
            if (r == CURLE_OK)
                return http_fail(n, &x, repo, NULL);
            return ag_pull_fail(AG_PULL_ERR_NETWORK, "cannot list %s at %s: %s", repo,
                                n->endpoint, why);
        }
        say(n, "listing %s failed (%s); retrying (%d of %d)", repo, why, attempt + 1, n->retries);
        if (!backoff(n, attempt + 1)) {
            free(x.body.p);
            return interrupted();
        }
    }
}

static bool hex64(const char *s)
{
    if (strlen(s) != 64)
        return false;
    for (int i = 0; i < 64; i++)
        if (!isxdigit((unsigned char)s[i]))
            return false;
    return true;
}

/* Appends the .gguf files of one listing page to *v (*n entries). An entry
 * with anything malformed is skipped; a page that is not a JSON array is an
 * error. */
static int parse_listing(const net *n, const char *repo, const membuf *b, rfile **v, size_t *k)
{
    cJSON *j = cJSON_ParseWithLength(b->p ? b->p : "", b->n);
    if (!cJSON_IsArray(j)) {
        cJSON_Delete(j);
        return ag_pull_fail(AG_PULL_ERR_PROTOCOL,
                            "unexpected answer from %s listing %s: not a JSON array", n->endpoint,
                            repo);
    }
    int count = cJSON_GetArraySize(j);
    if ((size_t)count > MAX_FILES - *k) {
        cJSON_Delete(j);
        return ag_pull_fail(AG_PULL_ERR_PROTOCOL, "the listing of %s has more than %u entries",
                            repo, MAX_FILES);
    }
    rfile *nv = count > 0 ? realloc(*v, (*k + (size_t)count) * sizeof(*nv)) : *v;
    if (!nv) {
        cJSON_Delete(j);
        return ag_pull_fail(AG_PULL_ERR_IO, "out of memory reading the listing of %s", repo);
    }
    *v = nv;
    const cJSON *e;
    cJSON_ArrayForEach(e, j)
    {
        rfile *f = &nv[*k];
        memset(f, 0, sizeof(*f));
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(e, "type");
        const cJSON *path = cJSON_GetObjectItemCaseSensitive(e, "path");
        const cJSON *size = cJSON_GetObjectItemCaseSensitive(e, "size");
        const cJSON *lfs = cJSON_GetObjectItemCaseSensitive(e, "lfs");
        if ((type && (!cJSON_IsString(type) || strcmp(type->valuestring, "file") != 0)) ||
            !cJSON_IsString(path) || !ag_pull_valid_repo_path(path->valuestring) ||
            strlen(path->valuestring) >= sizeof(f->path))
            continue;
        if (cJSON_IsObject(lfs)) {
            const cJSON *ls = cJSON_GetObjectItemCaseSensitive(lfs, "size");
            const cJSON *oid = cJSON_GetObjectItemCaseSensitive(lfs, "oid");
            if (cJSON_IsNumber(ls))
                size = ls;
            if (cJSON_IsString(oid)) {
                const char *h = oid->valuestring;
                if (!strncmp(h, "sha256:", 7))
                    h += 7;
                if (!hex64(h))
                    continue;
                for (int i = 0; i < 64; i++)
                    f->oid[i] = (char)tolower((unsigned char)h[i]);
                f->oid[64] = '\0';
            }
        }
        if (!cJSON_IsNumber(size) || !(size->valuedouble >= 0) ||
            size->valuedouble > 9007199254740992.0)
            continue;
        f->size = (uint64_t)size->valuedouble;
        snprintf(f->path, sizeof(f->path), "%s", path->valuestring);
        (*k)++;
    }
    cJSON_Delete(j);
    return AG_PULL_OK;
}

/* The whole listing of a repo (.gguf files), following Link rel="next"
 * pages (the API pages large repos). */
static int list_repo_files(const net *n, const char *repo, rfile **v, size_t *k)
{
    enum { MAX_PAGES = 64 };
    char url[2048], next[2048];
    *v = NULL;
    *k = 0;
    if (!ag_pull_fmt(url, sizeof(url), "%s/api/models/%s/tree/main?recursive=true", n->endpoint,
                     repo))
        return ag_pull_fail(AG_PULL_ERR_USAGE, "URL too long for %s", repo);
    for (int page = 0; page < MAX_PAGES; page++) {
        membuf body = {0};
        int rc = fetch_page(n, repo, url, &body, next, sizeof(next));
        if (!rc)
            rc = parse_listing(n, repo, &body, v, k);
        free(body.p);
        if (rc)
            return rc;
        if (!next[0])
            return AG_PULL_OK;
        snprintf(url, sizeof(url), "%s", next);
    }
    return ag_pull_fail(AG_PULL_ERR_PROTOCOL, "the listing of %s has more than %d pages", repo,
                        MAX_PAGES);
}

/* ---- checks ---------------------------------------------------------------------- */

/* Before the download only the file's size is known, not its header, so the
 * check is the measured footprint of a Qwen3.5 file at the default 4096-token
 * context (about 1.15 x the file: weights mapped, f16 KV, DeltaNet state,
 * scratch) against the memory plan's default budget (available memory minus
 * a reserve, as run and chat use). After the download `airgap plan` gives
 * the exact figure for any context and KV type. */
int ag_pull_check_fits(const char *what, uint64_t bytes)
{
    uint64_t budget = ag_mem_default_budget();
    if (!budget)
        return AG_PULL_OK; /* cannot tell (no /proc/meminfo): loading will plan */
    uint64_t need = bytes + bytes / 100 * 15;
    if (budget >= need)
        return AG_PULL_OK;
    char a[32], nd[32];
    ag_pull_fmt_size(budget, a, sizeof(a));
    ag_pull_fmt_size(need, nd, sizeof(nd));
    return ag_pull_fail(AG_PULL_ERR_SPACE,
                        "%s needs about %s of memory to run (1.15 x its size, 4096-token context) but only "
                        "%s is available (free memory less a reserve); free memory, choose a smaller "
                        "quant, or pass --force to download anyway",
                        what, nd, a);
}

static int check_disk(const char *dir, const char *file, uint64_t need)
{
    struct statvfs sv;
    if (statvfs(dir, &sv) != 0)
        return AG_PULL_OK; /* cannot tell; the write will say */
    uint64_t avail = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
    if (avail >= need)
        return AG_PULL_OK;
    char a[32], nd[32];
    ag_pull_fmt_size(avail, a, sizeof(a));
    ag_pull_fmt_size(need, nd, sizeof(nd));
    return ag_pull_fail(AG_PULL_ERR_SPACE, "not enough disk space in %s for %s: need %s, %s free",
                        dir, file, nd, a);
}

/* ---- the download ------------------------------------------------------------------- */

static int write_meta(const char *meta, const rfile *rf, const char *url)
{
    FILE *f = fopen(meta, "w");
    if (!f)
        return ag_pull_fail(AG_PULL_ERR_IO, "cannot write %s: %s", meta, strerror(errno));
    fprintf(f, "sha256 %s\nsize %llu\nurl %s\n", rf->oid[0] ? rf->oid : "-",
            (unsigned long long)rf->size, url);
    bool ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    return ok ? AG_PULL_OK
              : ag_pull_fail(AG_PULL_ERR_IO, "cannot write %s: %s", meta, strerror(errno));
}

/* Whether the meta beside a partial promises the same file as rf. */
static bool meta_matches(const char *meta, const rfile *rf)
{
    char oid[65];
    uint64_t size;
    if (!ag_pull_read_meta(meta, oid, &size)) {
        /* a non-LFS file has "sha256 -": compare the size only */
        FILE *f = fopen(meta, "r");
        unsigned long long s = 0;
        bool ok = f && fscanf(f, "sha256 -\nsize %llu", &s) == 1;
        if (f)
            fclose(f);
        return ok && !rf->oid[0] && s == rf->size;
    }
    return strcmp(oid, rf->oid) == 0 && size == rf->size;
}

/* Feeds the first `have` bytes of fd to the hash. */
static int hash_existing(int fd, uint64_t have, ag_sha256 *sha, const char *partial)
{
    enum { CHUNK = 1 << 20 };
    char *buf = malloc(CHUNK);
    if (!buf)
        return ag_pull_fail(AG_PULL_ERR_IO, "out of memory");
    uint64_t off = 0;
    while (off < have) {
        size_t want = have - off < CHUNK ? (size_t)(have - off) : CHUNK;
        ssize_t r = pread(fd, buf, want, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            free(buf);
            return ag_pull_fail(AG_PULL_ERR_IO, "cannot read %s: %s", partial,
                                r < 0 ? strerror(errno) : "file shrank");
        }
        ag_sha256_update(sha, buf, (size_t)r);
        off += (uint64_t)r;
    }
    free(buf);
    return AG_PULL_OK;
}

/* Paths of one download. */
typedef struct target {
    char dir[PULL_PATH_MAX];
    char final[PULL_PATH_MAX];
    char partial[PULL_PATH_MAX + 16];
    char meta[PULL_PATH_MAX + 32];
    char url[2048];
    const char *repo, *file; /* file: the base name */
} target;

/* Streams the rest of the file into x->fd, resuming and retrying. */
static int transfer(const net *n, const target *t, xfer *x)
{
    int tries = 0;
    bool restarted416 = false;
    while (x->off < x->total) {
        uint64_t start = x->off;
        CURLcode r = perform(n, x, t->url, x->off);
        if (x->err == AG_PULL_ERR_INTERRUPTED) {
            progress_break(x->prog);
            return interrupted();
        }
        if (x->err)
            return x->err;
        if (r == CURLE_OK && !x->decided && (x->status == 200 || x->status == 206) && !decide(x))
            return x->err;
        if (x->off == x->total && (x->status == 200 || x->status == 206))
            break; /* all bytes are in, whatever happened to the connection after */
        char why[CURL_ERROR_SIZE + 64] = "";
        if (r == CURLE_OK && (x->status == 200 || x->status == 206)) {
            if (x->off < x->total)
                snprintf(why, sizeof(why), "the server closed the connection early");
        } else if (r == CURLE_OK && x->status == 416) {
            if (restarted416)
                return ag_pull_fail(AG_PULL_ERR_PROTOCOL,
                                    "server refuses the range %llu- of %s (HTTP 416) although the "
                                    "file should have %llu bytes",
                                    (unsigned long long)x->off, t->file,
                                    (unsigned long long)x->total);
            restarted416 = true;
            progress_break(x->prog);
            say(n, "the server has no bytes past %llu of %s (HTTP 416); downloading from the start",
                (unsigned long long)x->off, t->file);
            if (ftruncate(x->fd, 0) != 0)
                return ag_pull_fail(AG_PULL_ERR_IO, "cannot truncate %s: %s", t->partial,
                                    strerror(errno));
            x->off = 0;
            x->prog->b0 = 0;
            ag_sha256_init(&x->sha);
            continue;
        } else if (r == CURLE_OK && (x->status >= 500 || x->status == 429)) {
            snprintf(why, sizeof(why), "HTTP %ld", x->status);
        } else if (r == CURLE_OK) {
            return http_fail(n, x, t->repo, t->file);
        } else if (transient(r)) {
            snprintf(why, sizeof(why), "%s", curl_reason(x, r));
        } else {
            progress_break(x->prog);
            return ag_pull_fail(AG_PULL_ERR_NETWORK, "cannot download %s from %s: %s%s", t->file,
                                n->endpoint, curl_reason(x, r),
                                x->off ? "; the partial download is kept, run the same command "
                                         "again to resume"
                                       : "");
        }
        if (!why[0])
            break;
        if (x->off - start >= RETRY_RESET)
            tries = 0;
        char at[32], all[32];
        ag_pull_fmt_size(x->off, at, sizeof(at));
        ag_pull_fmt_size(x->total, all, sizeof(all));
        progress_break(x->prog);
        if (++tries > n->retries)
            return ag_pull_fail(AG_PULL_ERR_NETWORK,
                                "download of %s from %s failed at %s of %s: %s; the partial "
                                "download is kept, run the same command again to resume",
                                t->file, n->endpoint, at, all, why);
        say(n, "connection problem at %s of %s (%s); resuming (retry %d of %d)", at, all, why,
            tries, n->retries);
        if (!backoff(n, tries))
            return interrupted();
    }
    return AG_PULL_OK;
}

/* Size and sha256 check, then fsync + rename into place. */
static int finish(const net *n, const target *t, xfer *x, const char *oid)
{
    char got[65];
    ag_sha256_final_hex(&x->sha, got);
    if (x->off != x->total || (oid[0] && strcmp(got, oid) != 0)) {
        unlink(t->partial);
        unlink(t->meta);
        if (x->off != x->total)
            return ag_pull_fail(AG_PULL_ERR_INTEGRITY,
                                "size mismatch for %s from %s: expected %llu bytes, got %llu; "
                                "deleted the partial download",
                                t->file, t->repo, (unsigned long long)x->total,
                                (unsigned long long)x->off);
        return ag_pull_fail(AG_PULL_ERR_INTEGRITY,
                            "sha256 mismatch for %s from %s: expected %s, got %s; the download is "
                            "corrupt and was deleted",
                            t->file, t->repo, oid, got);
    }
    if (!oid[0])
        say(n, "note: the listing gives no sha256 for %s (not an LFS file); checked its size only",
            t->file);
    if (fsync(x->fd) != 0)
        return ag_pull_fail(AG_PULL_ERR_IO, "cannot sync %s: %s", t->partial, strerror(errno));
    if (rename(t->partial, t->final) != 0)
        return ag_pull_fail(AG_PULL_ERR_IO, "cannot rename %s to %s: %s", t->partial, t->final,
                            strerror(errno));
    unlink(t->meta);
    int dfd = open(t->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return AG_PULL_OK;
}

/* Bytes already in a partial that belongs to rf (0 if none or stale). */
static uint64_t resumable(const target *t, const rfile *rf)
{
    struct stat st;
    if (stat(t->partial, &st) != 0 || !meta_matches(t->meta, rf) ||
        (uint64_t)st.st_size > rf->size)
        return 0;
    return (uint64_t)st.st_size;
}

static int download(const net *n, const char *repo, const rfile *rf, target *t)
{
    uint64_t have = resumable(t, rf);
    char sz[32], hv[32];
    ag_pull_fmt_size(rf->size, sz, sizeof(sz));
    ag_pull_fmt_size(have, hv, sizeof(hv));
    if (have)
        say(n, "pulling %s %s (%s, resuming at %s)", repo, t->file, sz, hv);
    else
        say(n, "pulling %s %s (%s)", repo, t->file, sz);
    int rc;
    if (!n->force && (rc = ag_pull_check_fits(t->file, rf->size)))
        return rc;
    if ((rc = check_disk(t->dir, t->file, rf->size - have)))
        return rc;

    int fd = open(t->partial, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return ag_pull_fail(AG_PULL_ERR_IO, "cannot open %s: %s", t->partial, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        return ag_pull_fail(AG_PULL_ERR_BUSY,
                            "another airgap pull is downloading %s (%s is locked); wait for it",
                            t->file, t->partial);
    }
    progress prog;
    memset(&prog, 0, sizeof(prog));
    xfer x;
    memset(&x, 0, sizeof(x));
    x.fd = fd;
    x.is_download = true;
    x.total = rf->size;
    x.file = t->file;
    x.n = n;
    x.prog = &prog;
    x.body.limit = MAX_ERRBODY;
    ag_sha256_init(&x.sha);

    struct stat st;
    if (access(t->final, F_OK) == 0) { /* another pull finished it while we waited */
        if (fstat(fd, &st) == 0 && st.st_size == 0)
            unlink(t->partial);
        close(fd);
        return AG_PULL_OK;
    }
    /* Re-check under the lock: the partial may be from another remote version. */
    if (fstat(fd, &st) != 0) {
        rc = ag_pull_fail(AG_PULL_ERR_IO, "cannot stat %s: %s", t->partial, strerror(errno));
        goto out;
    }
    have = resumable(t, rf);
    if ((uint64_t)st.st_size != have) {
        if (st.st_size > 0)
            say(n, "the partial download of %s is from another version of the file or "
                   "unreadable; starting over",
                t->file);
        if (ftruncate(fd, 0) != 0) {
            rc = ag_pull_fail(AG_PULL_ERR_IO, "cannot truncate %s: %s", t->partial,
                              strerror(errno));
            goto out;
        }
        have = 0;
    }
    if (!have && (rc = write_meta(t->meta, rf, t->url)))
        goto out;
    if ((rc = hash_existing(fd, have, &x.sha, t->partial)))
        goto out;
    x.off = have;
    prog.mode = n->progress;
    prog.total = rf->size;
    prog.t0 = prog.last = now_s();
    prog.b0 = have;
    prog.last_pct = (int)(have * 100 / (rf->size ? rf->size : 1));
    prog.last_decile = prog.last_pct / 10;
    rc = transfer(n, t, &x);
    if (rc == AG_PULL_OK) {
        progress_show(&prog, x.off, true);
        rc = finish(n, t, &x, rf->oid);
    } else {
        progress_break(&prog);
    }
out:
    free(x.body.p);
    if (rc == AG_PULL_ERR_INTEGRITY) { /* it can never become right */
        unlink(t->partial);
        unlink(t->meta);
    } else if (rc != AG_PULL_OK) {
        fdatasync(fd); /* keep what arrived for the resume */
    }
    close(fd);
    return rc;
}

/* Picks the file spec names out of the listing. */
static int select_file(const pull_spec *spec, const rfile *files, size_t n_files, size_t *idx)
{
    if (spec->kind == SPEC_FILE) {
        for (size_t i = 0; i < n_files; i++) {
            if (strcmp(files[i].path, spec->file) == 0) {
                *idx = i;
                return AG_PULL_OK;
            }
        }
        char list[600] = "";
        for (size_t i = 0; i < n_files; i++) {
            size_t len = strlen(list);
            if (len + strlen(files[i].path) + 8 >= sizeof(list)) {
                snprintf(list + len, sizeof(list) - len, ", ...");
                break;
            }
            snprintf(list + len, sizeof(list) - len, "%s%s", len ? ", " : "", files[i].path);
        }
        return ag_pull_fail(AG_PULL_ERR_NOT_FOUND, "%s has no file '%s'; its .gguf files: %s",
                            spec->repo, spec->file, list[0] ? list : "(none)");
    }
    const char **names = calloc(n_files ? n_files : 1, sizeof(*names));
    if (!names)
        return ag_pull_fail(AG_PULL_ERR_IO, "out of memory");
    for (size_t i = 0; i < n_files; i++)
        names[i] = files[i].path;
    int rc = ag_pull_choose(spec, names, n_files, spec->repo, idx);
    free(names);
    return rc;
}

static bool safe_base(const char *b)
{
    if (!b[0] || b[0] == '.' || strlen(b) >= 256)
        return false;
    for (const char *p = b; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '\\')
            return false;
    return true;
}

static int pull_remote(const net *n, const ag_pull_opts *o, const pull_spec *spec, char *out,
                       size_t cap)
{
    rfile *files = NULL;
    size_t n_files = 0, idx = 0;
    target t;
    memset(&t, 0, sizeof(t));
    int rc = list_repo_files(n, spec->repo, &files, &n_files);
    if (!rc)
        rc = select_file(spec, files, n_files, &idx);
    if (rc)
        goto out;
    const rfile *rf = &files[idx];
    const char *base = ag_pull_basename(rf->path);
    char enc[1600];
    if (!safe_base(base)) {
        rc = ag_pull_fail(AG_PULL_ERR_PROTOCOL, "%s lists a file with an unusable name: '%s'",
                          spec->repo, rf->path);
        goto out;
    }
    t.repo = spec->repo;
    t.file = base;
    if ((rc = ag_pull_repo_dir(o, spec->repo, t.dir, sizeof(t.dir))))
        goto out;
    if (!url_path(rf->path, enc, sizeof(enc)) ||
        !ag_pull_fmt(t.url, sizeof(t.url), "%s/%s/resolve/main/%s", n->endpoint, spec->repo,
                     enc) ||
        !ag_pull_fmt(t.final, sizeof(t.final), "%s/%s", t.dir, base) ||
        !ag_pull_fmt(t.partial, sizeof(t.partial), "%s.partial", t.final) ||
        !ag_pull_fmt(t.meta, sizeof(t.meta), "%s.meta", t.partial)) {
        rc = ag_pull_fail(AG_PULL_ERR_USAGE, "path or URL too long for %s", rf->path);
        goto out;
    }
    if (access(t.final, F_OK) == 0) { /* e.g. cached, but the quant match was ambiguous locally */
        say(n, "%s %s is already cached", spec->repo, base);
    } else {
        if ((rc = ag_pull_mkdirs(t.dir)))
            goto out;
        if ((rc = download(n, spec->repo, rf, &t)))
            goto out;
        say(n, "saved %s", t.final);
    }
    if (!ag_pull_fmt(out, cap, "%s", t.final))
        rc = ag_pull_fail(AG_PULL_ERR_USAGE, "output buffer too small for %s", t.final);
out:
    free(files);
    return rc;
}

int ag_pull_run(const ag_pull_opts *o, const char *spec_s, char *out, size_t cap)
{
    ag_pull_clear_error();
    if (!out || cap == 0)
        return ag_pull_fail(AG_PULL_ERR_USAGE, "no output buffer");
    out[0] = '\0';
    if (!spec_s || !*spec_s)
        return ag_pull_fail(AG_PULL_ERR_USAGE, "empty model name");
    if (spec_s[0] == '/' || spec_s[0] == '.' || spec_s[0] == '~' ||
        (!strchr(spec_s, '/') && ag_pull_ends_with_ci(spec_s, ".gguf")))
        return ag_pull_fail(AG_PULL_ERR_USAGE,
                            "'%s' is a file name; airgap pull takes REPO[:QUANT], REPO/FILE.gguf "
                            "or a model name",
                            spec_s);
    pull_spec spec;
    int rc = ag_pull_parse_spec(spec_s, &spec);
    if (rc)
        return rc;
    rc = ag_pull_cache_find(o, &spec, out, cap);
    if (rc == AG_PULL_OK) {
        if (!(o && o->quiet))
            fprintf(stderr, "%s is already cached: %s\n", spec_s, out);
        return AG_PULL_OK;
    }
    if (rc != AG_PULL_ERR_NOT_CACHED && rc != AG_PULL_ERR_USAGE)
        return rc;
    if (ag_pull_offline(o))
        return ag_pull_not_cached(o, spec_s);
    net n;
    if ((rc = net_init(o, &n)))
        return rc;
    char why[512];
    const ag_curl_api *cu = ag_curl_load(why, sizeof(why));
    if (!cu)
        return ag_pull_fail(AG_PULL_ERR_NETWORK, "%s", why);
    if (cu->global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return ag_pull_fail(AG_PULL_ERR_NETWORK, "cannot initialize libcurl");
    sigint_begin();
    rc = pull_remote(&n, o, &spec, out, cap);
    sigint_end();
    cu->global_cleanup();
    return rc;
}
