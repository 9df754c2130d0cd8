/* test_bench.c: `airgap bench` end to end, as a user (or a script) runs it.
 *
 * Runs the built binary (AG_CLI) on a tiny synthetic model with small
 * sizes (-p 16 -n 4 -r 2, an 8 MiB memory-read buffer) so it stays fast
 * under ASan: the llama-bench-like table (header, one row per test, the
 * memory-read line, GB/s on the decode row), the --json output checked by a
 * small strict JSON parser (an array of one object per test with the fields
 * llama-bench's -o json has that tools read: n_prompt, n_gen, n_threads,
 * avg_ts, stddev_ts, samples_ts, samples_ns, model_filename, ...; sane
 * values), -d depth naming, and that bad flags exit 2 with one line. */
#include "harness.h"
#include "shell.h"

#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* ---- a strict little JSON parser: validates, and records per top-level
 * array element which of the wanted keys it has and their numbers ---------- */

static const char *const wanted[] = {
    "n_prompt", "n_gen", "n_depth", "n_threads", "avg_ts", "stddev_ts", "avg_ns", "stddev_ns",
    "samples_ts", "samples_ns", "model_filename", "model_size", "model_n_params", "test_time",
    "build_commit", "read_gbps", "weight_bytes_per_token", "bytes_per_token", "avg_gbps",
};
#define N_WANTED (sizeof(wanted) / sizeof(wanted[0]))
#define MAX_RECS 8

typedef struct rec {
    unsigned have;           /* bit k: wanted[k] present */
    double num[N_WANTED];    /* its value if a number */
    int n_samples_ts, n_samples_ns;
} rec;

typedef struct jp {
    const char *s;
    int depth;
    int n_recs;
    rec recs[MAX_RECS];
    int key;                 /* wanted index of the key being parsed at depth 2, or -1 */
} jp;

static void ws(jp *p) { while (*p->s == ' ' || *p->s == '\n' || *p->s == '\t' || *p->s == '\r') p->s++; }

static bool value(jp *p);

static bool string(jp *p, char *out, size_t cap)
{
    size_t n = 0;
    if (*p->s != '"') return false;
    p->s++;
    while (*p->s != '"') {
        unsigned char c = (unsigned char)*p->s;
        if (c < 0x20) return false;
        if (c == '\\') {
            p->s++;
            if (*p->s == 'u') {
                for (int i = 1; i <= 4; i++) if (!isxdigit((unsigned char)p->s[i])) return false;
                p->s += 4;
            } else if (!strchr("\"\\/bfnrt", *p->s) || !*p->s) {
                return false;
            }
        }
        if (out && n + 1 < cap) out[n++] = (char)c;
        p->s++;
    }
    p->s++;
    if (out) out[n] = 0;
    return true;
}

static bool number(jp *p, double *v)
{
    const char *b = p->s;
    if (*p->s == '-') p->s++;
    if (!isdigit((unsigned char)*p->s)) return false;
    if (*p->s == '0') p->s++;
    else while (isdigit((unsigned char)*p->s)) p->s++;
    if (*p->s == '.') {
        p->s++;
        if (!isdigit((unsigned char)*p->s)) return false;
        while (isdigit((unsigned char)*p->s)) p->s++;
    }
    if (*p->s == 'e' || *p->s == 'E') {
        p->s++;
        if (*p->s == '+' || *p->s == '-') p->s++;
        if (!isdigit((unsigned char)*p->s)) return false;
        while (isdigit((unsigned char)*p->s)) p->s++;
    }
    *v = strtod(b, NULL);
    return true;
}

static bool value(jp *p)
{
    ws(p);
    char c = *p->s;
    int my_key = p->key;
    p->key = -1;
    if (c == '{') {
        p->s++;
        p->depth++;
        if (p->depth == 2 && p->n_recs < MAX_RECS) memset(&p->recs[p->n_recs], 0, sizeof(rec));
        ws(p);
        if (*p->s == '}') { p->s++; p->depth--; return true; }
        for (;;) {
            char key[64];
            ws(p);
            if (!string(p, key, sizeof(key))) return false;
            ws(p);
            if (*p->s++ != ':') return false;
            p->key = -1;
            if (p->depth == 2 && p->n_recs < MAX_RECS)
                for (size_t k = 0; k < N_WANTED; k++)
                    if (strcmp(key, wanted[k]) == 0) {
                        p->recs[p->n_recs].have |= 1u << k;
                        p->key = (int)k;
                    }
            if (!value(p)) return false;
            ws(p);
            if (*p->s == ',') { p->s++; continue; }
            if (*p->s++ != '}') return false;
            break;
        }
        p->depth--;
        if (p->depth == 1) p->n_recs++;
        return true;
    }
    if (c == '[') {
        p->s++;
        p->depth++;
        int n = 0;
        ws(p);
        if (*p->s == ']') { p->s++; p->depth--; return true; }
        for (;;) {
            if (!value(p)) return false;
            n++;
            ws(p);
            if (*p->s == ',') { p->s++; continue; }
            if (*p->s++ != ']') return false;
            break;
        }
        p->depth--;
        if (p->depth == 2 && my_key >= 0 && p->n_recs < MAX_RECS) {
            if (strcmp(wanted[my_key], "samples_ts") == 0) p->recs[p->n_recs].n_samples_ts = n;
            if (strcmp(wanted[my_key], "samples_ns") == 0) p->recs[p->n_recs].n_samples_ns = n;
        }
        return true;
    }
    if (c == '"') return string(p, NULL, 0);
    if (strncmp(p->s, "true", 4) == 0) { p->s += 4; return true; }
    if (strncmp(p->s, "false", 5) == 0) { p->s += 5; return true; }
    if (strncmp(p->s, "null", 4) == 0) { p->s += 4; return true; }
    double v;
    if (!number(p, &v)) return false;
    if (p->depth == 2 && my_key >= 0 && p->n_recs < MAX_RECS) p->recs[p->n_recs].num[my_key] = v;
    return true;
}

static int widx(const char *k)
{
    for (size_t i = 0; i < N_WANTED; i++) if (strcmp(wanted[i], k) == 0) return (int)i;
    return 0;
}

static bool has(const rec *r, const char *k) { return (r->have >> widx(k)) & 1u; }
static double num(const rec *r, const char *k) { return r->num[widx(k)]; }

int main(void)
{
    const char *cli = AG_CLI;
    int rc;

    rc = sh("%s synth --preset tiny --seed 3 -o bench_tiny.gguf 2>&1", cli);
    CHECK(rc == 0, "synth: rc %d %s", rc, out_buf);

    rc = sh("%s bench --help", cli);
    CHECK(rc == 0 && strstr(out_buf, "--json") && strstr(out_buf, "--depth"), "bench --help: rc %d", rc);
    rc = sh("%s --help", cli);
    CHECK(rc == 0 && strstr(out_buf, "bench"), "bench is listed in airgap --help");

    /* the table */
    rc = sh("%s bench -m bench_tiny.gguf -p 16 -n 4 -r 2 -t 1 --bw-mib 8 2>&1", cli);
    printf("%s", out_buf);
    CHECK(rc == 0, "bench: rc %d", rc);
    CHECK(strstr(out_buf, "memory read:") && strstr(out_buf, "GB/s"), "memory-read line");
    CHECK(strstr(out_buf, "| model") && strstr(out_buf, "t/s"), "table header");
    const char *pp = strstr(out_buf, "| pp16 |") ? strstr(out_buf, "| pp16 |") : strstr(out_buf, " pp16 |");
    const char *tg = strstr(out_buf, " tg4 |");
    CHECK(pp && tg && pp < tg, "a pp16 row then a tg4 row");
    CHECK(strstr(out_buf, "bench_tiny.gguf |") != NULL, "model file name in the rows");
    if (tg) {
        /* tg row: "t/s ± sd | GB/s | % |" with numbers */
        double ts = 0, sd = -1, gb = -1;
        const char *q = strchr(tg + 1, '|');
        int got = q ? sscanf(q + 1, " %lf ± %lf | %lf", &ts, &sd, &gb) : 0;
        CHECK(got == 3 && ts > 0 && sd >= 0 && gb > 0, "tg row numbers: got %d (%g %g %g)", got, ts, sd, gb);
    }

    /* depth */
    rc = sh("%s bench -m bench_tiny.gguf -p 8 -n 2 -r 1 -t 1 -d 5 --bw-mib 0 2>&1", cli);
    CHECK(rc == 0 && strstr(out_buf, "pp8 @ d5") && strstr(out_buf, "tg2 @ d5") &&
          !strstr(out_buf, "memory read:"), "depth rows: rc %d\n%s", rc, out_buf);

    /* --json: only JSON on stdout, llama-bench's fields */
    rc = sh("%s bench -m bench_tiny.gguf -p 16 -n 4 -r 3 -t 1 --bw-mib 8 --json 2>/dev/null", cli);
    CHECK(rc == 0, "bench --json: rc %d", rc);
    jp p = { out_buf, 0, 0, {{0}}, -1 };
    ws(&p);
    bool ok = *p.s == '[' && value(&p);
    ws(&p);
    CHECK(ok && *p.s == 0, "--json output is one JSON value: parse stopped at '%.30s'", p.s);
    CHECK(p.n_recs == 2, "two records, got %d", p.n_recs);
    const char *common[] = {"n_prompt", "n_gen", "n_depth", "n_threads", "avg_ts", "stddev_ts", "avg_ns",
                            "stddev_ns", "samples_ts", "samples_ns", "model_filename", "model_size",
                            "model_n_params", "test_time", "build_commit", "read_gbps"};
    for (int i = 0; i < p.n_recs && i < 2; i++) {
        const rec *r = &p.recs[i];
        for (size_t k = 0; k < sizeof(common) / sizeof(common[0]); k++)
            CHECK(has(r, common[k]), "record %d has %s", i, common[k]);
        CHECK(num(r, "n_threads") == 1 && num(r, "n_depth") == 0, "record %d: threads, depth", i);
        CHECK(num(r, "avg_ts") > 0 && num(r, "stddev_ts") >= 0 && num(r, "avg_ns") > 0, "record %d: rates", i);
        CHECK(r->n_samples_ts == 3 && r->n_samples_ns == 3, "record %d: 3 samples (%d, %d)", i,
              r->n_samples_ts, r->n_samples_ns);
        CHECK(num(r, "model_size") > 0 && num(r, "model_n_params") > 0 && num(r, "read_gbps") > 0,
              "record %d: model size, params, read bandwidth", i);
    }
    if (p.n_recs == 2) {
        const rec *a = &p.recs[0], *b = &p.recs[1];
        CHECK(num(a, "n_prompt") == 16 && num(a, "n_gen") == 0, "first record is pp16");
        CHECK(num(b, "n_prompt") == 0 && num(b, "n_gen") == 4, "second record is tg4");
        CHECK(!has(a, "avg_gbps") && has(b, "avg_gbps") && has(b, "weight_bytes_per_token"),
              "GB/s fields on the decode record only");
        /* tied LM head: the whole file's tensor bytes are read per token */
        CHECK(num(b, "weight_bytes_per_token") == num(b, "model_size"),
              "tied head: bytes per token %g == tensor bytes %g", num(b, "weight_bytes_per_token"),
              num(b, "model_size"));
        /* plus the recurrent state read and written back, plus the KV cache read */
        CHECK(has(b, "bytes_per_token") && num(b, "bytes_per_token") > num(b, "weight_bytes_per_token"),
              "bytes moved per token %g > weight bytes %g", num(b, "bytes_per_token"),
              num(b, "weight_bytes_per_token"));
        CHECK(num(b, "avg_gbps") > 0 &&
              fabs(num(b, "avg_gbps") - num(b, "bytes_per_token") * num(b, "avg_ts") / 1e9) <=
                  1e-3 * num(b, "avg_gbps") + 1e-3,
              "avg_gbps = bytes_per_token x avg_ts");
    }

    /* bad flags: exit 2, one line on stderr, nothing on stdout */
    const char *bad[] = {
        "-m bench_tiny.gguf -p abc", "-m bench_tiny.gguf --no-such-flag", "-m bench_tiny.gguf -p 0 -n 0",
        "-m bench_tiny.gguf -r 0", "-m bench_tiny.gguf -t 0", "-m bench_tiny.gguf -d -1", "-p 16",
        "-m bench_tiny.gguf --json=1", "-m bench_tiny.gguf -n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rc = sh("%s bench %s 2>&1 >/dev/null", cli, bad[i]);
        CHECK(rc == 2 && count_lines(out_buf) == 1, "bench %s: rc %d '%s'", bad[i], rc, out_buf);
    }
    rc = sh("%s bench -m no_such_file.gguf --bw-mib 0 2>&1 >/dev/null", cli);
    CHECK(rc == 1 && count_lines(out_buf) == 1, "missing model: rc %d '%s'", rc, out_buf);

    remove("bench_tiny.gguf");
    return REPORT();
}
