/* cmd_bench.c: `airgap bench`, prefill and decode speed, llama-bench style.
 *
 *     airgap bench -m M -p 128 -n 64 -t N [-r 5] [-d DEPTH] [--json]
 *
 * Two tests, each repeated R times after one untimed warm-up, reported as
 * tokens/s mean and sample standard deviation over the repetitions:
 *   ppP  prefill: an empty sequence (context reset, i.e. a fresh state), then
 *        one timed ag_decode of P random valid token ids (logits of the last
 *        token only, as llama-bench's batch does).
 *   tgN  decode: an untimed prefix (DEPTH tokens, or BENCH_TG_PROMPT tokens
 *        when DEPTH is 0), then N timed single-token ag_decode calls, each
 *        fed a random id (no sampling, as in llama-bench).
 * With -d DEPTH both tests run after DEPTH tokens of context (untimed,
 * re-processed before every repetition so each one sees the same state),
 * like llama-bench's -d: "decode with 4096 tokens of context" is
 * `-d 4096 -p 0`.
 *
 * Decode must read every weight once per token, and read and write back
 * the whole recurrent state, and read the KV cache so far, so its speed is
 * judged in bytes: effective GB/s = bytes_per_token * tg tokens/s / 1e9,
 * where bytes_per_token = weight_bytes_per_token + 2 x the recurrent state
 * (DeltaNet conv + state, ag_plan's `recurrent`: read, then written) + the
 * KV cache's bytes per position (ag_plan's `kv` / n_ctx) x the positions a
 * timed token reads on average (its prefix plus half the timed tokens).
 * weight_bytes_per_token is the byte size of every tensor the trunk uses
 * (ag_model_tensor info), minus the token-embedding table plus one of its
 * rows (a decode step reads one row), and minus MTP blocks (blk.i with
 * i >= ag_model_n_layer, never run). The LM head counts in full; with a tied
 * head (no output.weight) the embedding table IS the LM head and counts in
 * full. For the 0.8B shape the state is 2 x 19.3 MiB against 494 MiB of
 * Q4_K_M weights: 7.8%, which a weights-only count would book as overhead. The same run measures the machine's read bandwidth -- T threads
 * summing disjoint parts of a 1 GiB buffer (rd_meter), one pass before
 * each decode repetition and one after the last, median -- and the table
 * shows their ratio: the share of the physical limit that decode reaches.
 *
 * --json prints what `llama-bench -o json` prints: an array of one object per
 * test with the same field names (n_prompt, n_gen, n_depth, n_threads,
 * avg_ts, stddev_ts, samples_ts, samples_ns, model_filename, ...), so scripts
 * written for llama-bench read it, plus airgap's own fields (read_gbps;
 * weight_bytes_per_token and avg_gbps on decode records). Only the JSON goes
 * to stdout then.
 *
 * Rejected: timing a whole run (prompt + generation) as `run` does -- it mixes
 * the two costs that have different limits (compute vs memory); sampling the
 * decode tokens -- it adds the sampler's cost to the model's and makes the
 * sequence depend on the weights; creating a new context per repetition --
 * ag_context_reset gives the same empty state without re-allocating the KV
 * cache, whose first-touch page faults would otherwise be timed noise. */
#include "cli.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BENCH_TG_PROMPT 8    /* untimed prefix of the decode test at depth 0 */
#define BW_PASSES 5          /* read passes before the tests (reported without a decode test) */

/* ---- machine ----------------------------------------------------------------- */

/* Physical cores from sysfs (unique package/core pairs of the online CPUs),
 * else the online CPU count. The library's own default is the same, but the
 * CLI only sees the public API, and the report must name the number. */
static int physical_cores(void)
{
    long n_cpu = sysconf(_SC_NPROCESSORS_CONF);
    if (n_cpu < 1)
        n_cpu = 1;
    if (n_cpu > 4096)
        n_cpu = 4096;
    long *keys = malloc((size_t)n_cpu * sizeof(*keys));
    int n_keys = 0;
    for (long c = 0; keys && c < n_cpu; c++) {
        char path[128];
        long core = -1, pkg = 0;
        snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%ld/topology/core_id", c);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        if (fscanf(f, "%ld", &core) != 1)
            core = -1;
        fclose(f);
        snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%ld/topology/physical_package_id",
                 c);
        f = fopen(path, "r");
        if (f) {
            if (fscanf(f, "%ld", &pkg) != 1)
                pkg = 0;
            fclose(f);
        }
        if (core < 0)
            continue;
        long key = pkg * 1000000 + core;
        int k = 0;
        while (k < n_keys && keys[k] != key)
            k++;
        if (k == n_keys)
            keys[n_keys++] = key;
    }
    free(keys);
    if (n_keys > 0)
        return n_keys;
    long on = sysconf(_SC_NPROCESSORS_ONLN);
    return on > 0 ? (int)(on > 4096 ? 4096 : on) : 1;
}

/* "model name" from /proc/cpuinfo (x86), or "" (llama-bench's cpu_info). */
static void cpu_name(char *buf, size_t cap)
{
    buf[0] = 0;
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "model name", 10) != 0)
            continue;
        const char *p = strchr(line, ':');
        if (!p)
            break;
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        size_t n = strcspn(p, "\r\n");
        if (n >= cap)
            n = cap - 1;
        memcpy(buf, p, n);
        buf[n] = 0;
        break;
    }
    fclose(f);
}

/* ---- memory read bandwidth -------------------------------------------------- */

typedef struct rd_sync {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int ready;                   /* workers waiting for the start signal */
    bool go, cancel;
} rd_sync;

typedef struct rd_job {
    uint64_t *p;
    size_t n;                    /* uint64 words */
    bool fill;                   /* write the part first (first touch), untimed pass */
    rd_sync *sync;
    uint64_t sum;
} rd_job;

static void *rd_worker(void *arg)
{
    rd_job *j = arg;
    rd_sync *s = j->sync;
    pthread_mutex_lock(&s->mu);
    s->ready++;
    pthread_cond_broadcast(&s->cv);
    while (!s->go)
        pthread_cond_wait(&s->cv, &s->mu);
    bool cancel = s->cancel;
    pthread_mutex_unlock(&s->mu);
    if (cancel)
        return NULL;
    uint64_t *p = j->p;
    size_t n = j->n;
    if (j->fill) {
        for (size_t i = 0; i < n; i++)
            p[i] = (uint64_t)i * 0x9E3779B97F4A7C15ull;
        j->sum = n ? p[n / 2] : 0;
        return NULL;
    }
    /* eight independent accumulators: the loop is bound by loads, not adds */
    uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        a0 += p[i];     a1 += p[i + 1]; a2 += p[i + 2]; a3 += p[i + 3];
        a4 += p[i + 4]; a5 += p[i + 5]; a6 += p[i + 6]; a7 += p[i + 7];
    }
    for (; i < n; i++)
        a0 += p[i];
    j->sum = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* One pass over the buffer by n_threads threads; returns seconds (< 0 on
 * failure). The clock starts once every thread exists and waits for the
 * start signal, so thread creation is not timed. */
static double rd_pass(uint64_t *buf, size_t words, int n_threads, bool fill, uint64_t *sink)
{
    rd_job *jobs = calloc((size_t)n_threads, sizeof(*jobs));
    pthread_t *tid = calloc((size_t)n_threads, sizeof(*tid));
    rd_sync s = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, false, false };
    if (!jobs || !tid) {
        free(jobs);
        free(tid);
        return -1;
    }
    size_t per = (words / (size_t)n_threads) & ~(size_t)7; /* 64-byte aligned parts */
    int started = 0;
    for (int k = 0; k < n_threads; k++) {
        size_t lo = (size_t)k * per, hi = k == n_threads - 1 ? words : lo + per;
        jobs[k] = (rd_job){ buf + lo, hi - lo, fill, &s, 0 };
        if (pthread_create(&tid[k], NULL, rd_worker, &jobs[k]) != 0)
            break;
        started++;
    }
    pthread_mutex_lock(&s.mu);
    while (s.ready < started)
        pthread_cond_wait(&s.cv, &s.mu);
    s.go = true;
    s.cancel = started < n_threads;
    double t0 = cli_now();
    pthread_cond_broadcast(&s.cv);
    pthread_mutex_unlock(&s.mu);
    for (int k = 0; k < started; k++)
        pthread_join(tid[k], NULL);
    double t = s.cancel ? -1 : cli_now() - t0;
    for (int k = 0; k < started; k++)
        *sink += jobs[k].sum;
    pthread_mutex_destroy(&s.mu);
    pthread_cond_destroy(&s.cv);
    free(jobs);
    free(tid);
    return t;
}

/* The machine's read bandwidth, sampled: a `bytes` buffer written once (so
 * its pages are really mapped: reading never-written memory reads the
 * shared zero page) and kept for the run, then timed passes of n_threads
 * threads each summing a disjoint part. Memory speed on a shared machine
 * drifts over seconds, so the decode test takes one pass before each of
 * its repetitions and one after the last (rd_sample from run_test), and
 * its "% read" is against the median of those: the limit measured while
 * the decode ran, not minutes before. Without a decode test the median of
 * the BW_PASSES passes taken before the tests is reported. */
typedef struct rd_meter {
    uint64_t *buf;               /* NULL: not measuring */
    size_t words;
    int n_threads;
    double *sec;                 /* pass times; the decode's start at first_tg */
    int n, cap, first_tg;        /* first_tg < 0: no decode pass yet */
    uint64_t sink;               /* the sums, kept so the reads stay */
} rd_meter;

/* Allocates and writes the buffer; false if it cannot be allocated. */
static bool rd_open(rd_meter *r, int n_threads, size_t bytes, int cap)
{
    *r = (rd_meter){ .n_threads = n_threads, .first_tg = -1 };
    r->words = bytes / sizeof(uint64_t);
    if (r->words < 8 * (size_t)n_threads || cap < 1)
        return false;
    size_t alloc = (r->words * sizeof(uint64_t) + 4095) & ~(size_t)4095;
    r->buf = aligned_alloc(4096, alloc);
    r->sec = malloc((size_t)cap * sizeof(*r->sec));
    r->cap = cap;
    if (!r->buf || !r->sec || rd_pass(r->buf, r->words, n_threads, true, &r->sink) < 0) {
        free(r->buf);
        free(r->sec);
        *r = (rd_meter){ .first_tg = -1 };
        return false;
    }
    return true;
}

/* One timed pass (nothing when not measuring or full). */
static void rd_sample(rd_meter *r)
{
    if (!r->buf || r->n >= r->cap)
        return;
    double s = rd_pass(r->buf, r->words, r->n_threads, false, &r->sink);
    if (s > 0)
        r->sec[r->n++] = s;
}

/* GB/s (1e9 bytes/s) of the median pass among [from, n); < 0 if none. */
static double rd_gbps(rd_meter *r, int from)
{
    int k = r->n - from;
    if (!r->buf || k < 1)
        return -1;
    double *t = malloc((size_t)k * sizeof(*t));
    if (!t)
        return -1;
    memcpy(t, r->sec + from, (size_t)k * sizeof(*t));
    qsort(t, (size_t)k, sizeof(*t), cmp_double);
    double med = k % 2 ? t[k / 2] : 0.5 * (t[k / 2 - 1] + t[k / 2]);
    free(t);
    return (double)(r->words * sizeof(uint64_t)) / med / 1e9;
}

static void rd_close(rd_meter *r)
{
    /* keep the sums observable so the reads cannot be optimized away */
    if (r->sink == 0x5EEDull)
        fputc(' ', stderr);
    free(r->buf);
    free(r->sec);
    *r = (rd_meter){ .first_tg = -1 };
}

/* ---- model bytes ------------------------------------------------------------- */

/* Bytes one decode step reads from the weights (see the file comment). */
static ag_status weight_bytes_per_token(const ag_model *m, uint64_t *out, bool *tied)
{
    size_t nt = ag_model_n_tensors(m);
    int32_t n_layer = ag_model_n_layer(m);
    uint64_t total = 0, embd = 0, embd_row = 0;
    bool has_output = false;
    for (size_t i = 0; i < nt; i++) {
        ag_tensor_info ti;
        ag_status st = ag_model_tensor(m, i, &ti);
        if (st != AG_OK)
            return st;
        const char *nm = ti.name ? ti.name : "";
        if (strncmp(nm, "blk.", 4) == 0) {
            char *end;
            long il = strtol(nm + 4, &end, 10);
            if (end != nm + 4 && *end == '.' && il >= n_layer)
                continue; /* MTP block: not part of the trunk */
        }
        if (strcmp(nm, "token_embd.weight") == 0) {
            embd = ti.n_bytes;
            uint64_t rows = ti.n_dims >= 2 ? ti.ne[1] : 1;
            embd_row = rows ? ti.n_bytes / rows : ti.n_bytes;
        }
        if (strcmp(nm, "output.weight") == 0)
            has_output = true;
        total += ti.n_bytes;
    }
    *tied = !has_output;
    *out = has_output ? total - embd + embd_row : total;
    return AG_OK;
}

/* The type holding the most weight bytes, e.g. "q4_K" (for model_type). */
static const char *main_type(const ag_model *m)
{
    const char *best = "?";
    uint64_t best_bytes = 0;
    size_t nt = ag_model_n_tensors(m);
    for (size_t i = 0; i < nt; i++) {
        ag_tensor_info ti;
        if (ag_model_tensor(m, i, &ti) != AG_OK || !ti.type_name)
            continue;
        uint64_t sum = 0;
        for (size_t k = 0; k < nt; k++) {
            ag_tensor_info tk;
            if (ag_model_tensor(m, k, &tk) == AG_OK && tk.type_name &&
                strcmp(tk.type_name, ti.type_name) == 0)
                sum += tk.n_bytes;
        }
        if (sum > best_bytes) {
            best_bytes = sum;
            best = ti.type_name;
        }
        if (nt > 64 && i >= 64)
            break; /* the first tensors cover every type of a real file */
    }
    return best;
}

/* ---- the tests ----------------------------------------------------------------- */

typedef struct bench_test {
    const char *kind;       /* "pp" or "tg" */
    int32_t n_prompt, n_gen, n_depth;
    int32_t reps;
    int64_t *ns;            /* reps samples */
    time_t start;
    double avg_ts, stddev_ts, avg_ns, stddev_ns;
} bench_test;

typedef struct bench_run {
    ag_context *ctx;
    int32_t n_vocab;
    uint64_t rng;
    int32_t *tokens;        /* scratch: max(p, depth, prefix) ids */
} bench_run;

static int32_t next_token(bench_run *b)
{
    /* xorshift64*: any valid id will do; the sequence is fixed per run */
    b->rng ^= b->rng >> 12;
    b->rng ^= b->rng << 25;
    b->rng ^= b->rng >> 27;
    uint64_t r = b->rng * 0x2545F4914F6CDD1Dull;
    return (int32_t)((r >> 33) % (uint64_t)b->n_vocab);
}

static ag_status decode_random(bench_run *b, int32_t n)
{
    for (int32_t i = 0; i < n; i++)
        b->tokens[i] = next_token(b);
    return n > 0 ? ag_decode(b->ctx, b->tokens, (size_t)n, false) : AG_OK;
}

/* One repetition: reset, untimed prefix, timed work. */
static ag_status run_once(bench_run *b, const bench_test *t, int32_t n_gen, int64_t *ns)
{
    ag_context_reset(b->ctx);
    int32_t prefix = t->n_depth;
    if (t->n_prompt == 0 && prefix == 0)
        prefix = BENCH_TG_PROMPT;
    ag_status st = decode_random(b, prefix);
    if (st != AG_OK)
        return st;
    for (int32_t i = 0; i < t->n_prompt; i++)
        b->tokens[i] = next_token(b);
    double t0 = cli_now();
    if (t->n_prompt > 0)
        st = ag_decode(b->ctx, b->tokens, (size_t)t->n_prompt, false);
    for (int32_t i = 0; i < n_gen && st == AG_OK; i++) {
        int32_t tok = next_token(b);
        st = ag_decode(b->ctx, &tok, 1, false);
    }
    double dt = cli_now() - t0;
    if (ns)
        *ns = (int64_t)(dt * 1e9 + 0.5);
    return st;
}

static void summarize(bench_test *t)
{
    int64_t n_tok = (int64_t)t->n_prompt + t->n_gen;
    double sum_ts = 0, sum_ns = 0;
    for (int32_t r = 0; r < t->reps; r++) {
        double ns = t->ns[r] > 0 ? (double)t->ns[r] : 1.0;
        sum_ts += (double)n_tok * 1e9 / ns;
        sum_ns += ns;
    }
    t->avg_ts = sum_ts / t->reps;
    t->avg_ns = sum_ns / t->reps;
    double v_ts = 0, v_ns = 0;
    for (int32_t r = 0; r < t->reps; r++) {
        double ns = t->ns[r] > 0 ? (double)t->ns[r] : 1.0;
        double ts = (double)n_tok * 1e9 / ns;
        v_ts += (ts - t->avg_ts) * (ts - t->avg_ts);
        v_ns += (ns - t->avg_ns) * (ns - t->avg_ns);
    }
    t->stddev_ts = t->reps > 1 ? sqrt(v_ts / (t->reps - 1)) : 0;
    t->stddev_ns = t->reps > 1 ? sqrt(v_ns / (t->reps - 1)) : 0;
}

/* ---- output -------------------------------------------------------------------- */

typedef struct bench_info {
    const char *path;            /* as given (model_filename) */
    char name[64];               /* file name for the table, control bytes as '?' */
    char model_type[96];
    char cpu[128];
    uint64_t size, n_params, bytes_per_token; /* bytes_per_token: weights only */
    uint64_t state_bytes;        /* recurrent state, read and written per token */
    double kv_per_pos;           /* KV-cache bytes per cached position */
    bool tied;
    int32_t n_threads, n_batch;
    ag_cache_type type_k, type_v;
    double read_gbps;            /* < 0: not measured */
    int bw_mib, read_passes;     /* the passes read_gbps is the median of */
    bool read_in_tg;             /* ... taken between decode repetitions */
} bench_info;

static void test_name(const bench_test *t, char *buf, size_t cap)
{
    int n = t->n_prompt > 0 ? snprintf(buf, cap, "pp%d", (int)t->n_prompt)
                            : snprintf(buf, cap, "tg%d", (int)t->n_gen);
    if (t->n_depth > 0 && n > 0 && (size_t)n < cap)
        snprintf(buf + n, cap - (size_t)n, " @ d%d", (int)t->n_depth);
}

/* Bytes a decode step of test t moves on average (see the file comment). */
static double moved_bytes(const bench_info *in, const bench_test *t)
{
    double prefix = t->n_depth > 0 ? t->n_depth : BENCH_TG_PROMPT;
    return (double)in->bytes_per_token + 2.0 * (double)in->state_bytes +
           in->kv_per_pos * (prefix + 0.5 * (double)(t->n_gen + 1));
}

static int name_width(const bench_info *in)
{
    int w = (int)strlen(in->name);
    return w < 5 ? 5 : w;
}

static void print_header(const bench_info *in)
{
    const char *si = ag_system_info();
    printf("%s\n", si ? si : "");
    char b[32];
    cli_fmt_bytes(in->bytes_per_token, b, sizeof(b));
    char st[32];
    cli_fmt_bytes(in->state_bytes, st, sizeof(st));
    printf("decode moves per token: %s of weights (%s)\n"
           "  + 2 x %s of recurrent state (read, written back) + %.1f KiB of KV cache per "
           "position read\n", b,
           in->tied ? "tied LM head: the embedding table counts in full"
                    : "all but the embedding table, plus one row of it",
           st, in->kv_per_pos / 1024.0);
    printf("KV cache: K %s, V %s\n\n", ag_cache_type_name(in->type_k), ag_cache_type_name(in->type_v));
    int w = name_width(in);
    printf("| %-*s | %10s | %10s | %7s | %14s | %20s | %7s | %6s |\n", w, "model", "size",
           "params", "threads", "test", "t/s", "GB/s", "% read");
    printf("| %.*s | ---------: | ---------: | ------: | -------------: | -------------------: "
           "| ------: | -----: |\n", w, "------------------------------------------------------"
           "----------");
    fflush(stdout);
}

static void print_row(const bench_info *in, const bench_test *t)
{
    char size[32], params[32], name[48], ts[48], gbps[16] = "-", pct[16] = "-";
    cli_fmt_bytes(in->size, size, sizeof(size));
    cli_fmt_count(in->n_params, params, sizeof(params));
    test_name(t, name, sizeof(name));
    snprintf(ts, sizeof(ts), "%.2f ± %.2f", t->avg_ts, t->stddev_ts);
    if (t->n_prompt == 0) {
        double g = moved_bytes(in, t) * t->avg_ts / 1e9;
        snprintf(gbps, sizeof(gbps), "%.2f", g);
        if (in->read_gbps > 0)
            snprintf(pct, sizeof(pct), "%.0f%%", 100.0 * g / in->read_gbps);
    }
    /* "±" is two bytes but one column: widen the field by one */
    printf("| %-*s | %10s | %10s | %7d | %14s | %21s | %7s | %6s |\n", name_width(in), in->name,
           size, params, (int)in->n_threads, name, ts, gbps, pct);
    fflush(stdout);
}

/* After the table: the read bandwidth the "% read" column divides by. */
static void print_footer(const bench_info *in)
{
    if (in->read_gbps > 0)
        printf("\nmemory read: %.2f GB/s (%d thread%s, %d MiB buffer, median of %d passes %s)\n",
               in->read_gbps, (int)in->n_threads, in->n_threads == 1 ? "" : "s", in->bw_mib,
               in->read_passes, in->read_in_tg ? "between the decode repetitions" : "before the tests");
}

static void json_str(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20 || *p == 0x7F)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

static void print_json(const bench_info *in, const bench_test *tests, size_t n)
{
    printf("[\n");
    for (size_t i = 0; i < n; i++) {
        const bench_test *t = &tests[i];
        char when[32];
        struct tm tm;
        gmtime_r(&t->start, &tm);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        printf("  {\n    \"build_commit\": ");
#ifdef AG_BUILD_COMMIT
        json_str(AG_BUILD_COMMIT);
#else
        json_str(ag_version());
#endif
        printf(",\n    \"build_number\": 0,\n    \"cpu_info\": ");
        json_str(in->cpu);
        printf(",\n    \"gpu_info\": \"\",\n    \"backends\": \"CPU\",\n    \"model_filename\": ");
        json_str(in->path);
        printf(",\n    \"model_type\": ");
        json_str(in->model_type);
        printf(",\n    \"model_size\": %llu,\n    \"model_n_params\": %llu,\n",
               (unsigned long long)in->size, (unsigned long long)in->n_params);
        printf("    \"n_batch\": %d,\n    \"n_ubatch\": %d,\n    \"n_threads\": %d,\n",
               (int)in->n_batch, (int)in->n_batch, (int)in->n_threads);
        printf("    \"n_gpu_layers\": 0,\n    \"use_mmap\": true,\n    \"embeddings\": false,\n");
        printf("    \"type_k\": \"%s\",\n    \"type_v\": \"%s\",\n", ag_cache_type_name(in->type_k),
               ag_cache_type_name(in->type_v));
        printf("    \"n_prompt\": %d,\n    \"n_gen\": %d,\n    \"n_depth\": %d,\n",
               (int)t->n_prompt, (int)t->n_gen, (int)t->n_depth);
        printf("    \"test_time\": \"%s\",\n", when);
        printf("    \"avg_ns\": %.0f,\n    \"stddev_ns\": %.0f,\n", t->avg_ns, t->stddev_ns);
        printf("    \"avg_ts\": %.6f,\n    \"stddev_ts\": %.6f,\n", t->avg_ts, t->stddev_ts);
        printf("    \"samples_ns\": [ ");
        for (int32_t r = 0; r < t->reps; r++)
            printf("%s%lld", r ? ", " : "", (long long)t->ns[r]);
        printf(" ],\n    \"samples_ts\": [ ");
        int64_t n_tok = (int64_t)t->n_prompt + t->n_gen;
        for (int32_t r = 0; r < t->reps; r++)
            printf("%s%.6f", r ? ", " : "",
                   (double)n_tok * 1e9 / (double)(t->ns[r] > 0 ? t->ns[r] : 1));
        printf(" ]");
        if (in->read_gbps > 0)
            printf(",\n    \"read_gbps\": %.3f", in->read_gbps);
        if (t->n_prompt == 0)
            printf(",\n    \"weight_bytes_per_token\": %llu,\n    \"bytes_per_token\": %.0f,\n"
                   "    \"avg_gbps\": %.3f",
                   (unsigned long long)in->bytes_per_token, moved_bytes(in, t),
                   moved_bytes(in, t) * t->avg_ts / 1e9);
        printf("\n  }%s\n", i + 1 < n ? "," : "");
    }
    printf("]\n");
}

/* ---- the command ----------------------------------------------------------------- */

static int run_test(bench_run *b, bench_test *t, rd_meter *rd)
{
    t->ns = calloc((size_t)t->reps, sizeof(*t->ns));
    if (!t->ns)
        return cli_fail_msg("out of memory");
    /* warm-up as llama-bench does it: the prompt alone, or one token after
     * the short prefix; it pages in the weights and wakes the thread pool */
    bench_test warm = *t;
    warm.n_depth = 0;
    ag_status st = run_once(b, &warm, t->n_gen > 0 ? 1 : 0, NULL);
    t->start = time(NULL);
    bool sample = t->n_gen > 0; /* the read bandwidth around each decode repetition */
    if (sample && rd->first_tg < 0)
        rd->first_tg = rd->n;
    for (int32_t r = 0; r < t->reps && st == AG_OK; r++) {
        if (sample)
            rd_sample(rd);
        st = run_once(b, t, t->n_gen, &t->ns[r]);
    }
    if (sample && st == AG_OK)
        rd_sample(rd);
    if (st == AG_ERR_ABORTED) {
        fprintf(stderr, "airgap: interrupted\n");
        return CLI_INTERRUPTED;
    }
    if (st != AG_OK)
        return cli_fail(st);
    summarize(t);
    return CLI_OK;
}

int cmd_bench(int argc, char **argv)
{
    const char *path = NULL;
    int32_t n_prompt = 128, n_gen = 64, reps = 5, depth = 0, n_batch = 64, bw_mib = 1024;
    int32_t n_threads = physical_cores();
    bool json = false;
    const char *ctk = "f16", *ctv = "f16";
    cli_opt opts[] = {
        { "-m", "--model", CLI_STR, &path, 0, 0, "FILE|NAME", "model file or cached name", true,
          false, NULL },
        { "-p", "--n-prompt", CLI_INT, &n_prompt, 0, 1 << 20, "N",
          "prefill test: tokens in one ag_decode call, 0 = skip", false, false, NULL },
        { "-n", "--n-gen", CLI_INT, &n_gen, 0, 1 << 20, "N",
          "decode test: single-token ag_decode calls, 0 = skip", false, false, NULL },
        { "-t", "--threads", CLI_INT, &n_threads, 1, 4096, "N",
          "threads for the model and the memory-read test; physical cores by default", false,
          false, NULL },
        { "-r", "--repetitions", CLI_INT, &reps, 1, 1000, "N",
          "timed repetitions of each test, after one warm-up", false, false, NULL },
        { "-d", "--depth", CLI_INT, &depth, 0, 1 << 24, "N",
          "run both tests after N tokens of context (re-processed, untimed, before every "
          "repetition)", false, false, NULL },
        { "-b", "--batch-size", CLI_INT, &n_batch, 1, 1 << 20, "N",
          "max tokens per internal forward step", false, false, NULL },
        { "-ctk", "--cache-type-k", CLI_STR, &ctk, 0, 0, "TYPE", "K cache type: f16, f32, q8_0, q4_0",
          false, false, NULL },
        { "-ctv", "--cache-type-v", CLI_STR, &ctv, 0, 0, "TYPE", "V cache type: f16, f32, q8_0, q4_0",
          false, false, NULL },
        { NULL, "--bw-mib", CLI_INT, &bw_mib, 0, 1 << 20, "N",
          "buffer size of the memory-read test in MiB, 0 = skip it", false, false, NULL },
        { NULL, "--json", CLI_BOOL, &json, 0, 0, NULL,
          "print only a JSON array of records as `llama-bench -o json` does", false, false,
          NULL },
    };
    cli_spec spec = {
        "bench", "-m FILE [-p N] [-n N] [-t N] [-r N] [-d N] [--json]",
        "Measures prefill (ppN: one call with N prompt tokens) and decode (tgN: N\n"
        "single-token calls) speed in tokens/s, mean ± standard deviation over the\n"
        "repetitions, like llama-bench. For decode it also shows the effective memory\n"
        "bandwidth (bytes a step must move x tokens/s: the weights, the recurrent state\n"
        "read and written back, the KV cache so far) next to the machine's read\n"
        "bandwidth measured between the decode repetitions, and their ratio (% read).\n"
        "Token ids are random, so any model works, including `airgap synth` output.",
        "  airgap bench -m model.gguf -p 128 -n 64 -t 2\n"
        "  airgap bench -m model.gguf -p 0 -n 64 -d 4096      (decode at 4096 tokens of context)\n"
        "  airgap bench -m model.gguf --json > airgap.json",
        opts, sizeof(opts) / sizeof(opts[0]), NULL, 0
    };
    int prc = cli_parse(&spec, argc, argv, NULL, NULL);
    if (prc >= 0)
        return prc;
    if (n_prompt == 0 && n_gen == 0)
        return cli_usage_error("bench", "-p and -n are both 0: nothing to measure");
    ag_cache_type type_k, type_v;
    if (!cli_parse_cache_type("bench", "--cache-type-k", ctk, &type_k) ||
        !cli_parse_cache_type("bench", "--cache-type-v", ctv, &type_v))
        return CLI_USAGE;

    char resolved[4096];
    int rrc = cli_model_path(path, false, false, resolved, sizeof(resolved));
    if (rrc != CLI_OK)
        return rrc;

    /* context: the longer of the two tests, after the depth */
    int64_t tg_prefix = depth > 0 ? depth : BENCH_TG_PROMPT;
    int64_t need_pp = n_prompt > 0 ? (int64_t)depth + n_prompt : 0;
    int64_t need_tg = n_gen > 0 ? tg_prefix + n_gen : 0;
    int64_t n_ctx = (need_pp > need_tg ? need_pp : need_tg) + 1;
    if (n_ctx > INT32_MAX)
        return cli_usage_error("bench", "-d + -p / -n too large (%lld positions)",
                               (long long)n_ctx);

    ag_model_params mp = ag_model_default_params();
    ag_model *m = NULL;
    ag_status st = ag_model_load(resolved, &mp, &m);
    if (st != AG_OK)
        return cli_fail(st);
    bench_info in;
    memset(&in, 0, sizeof(in));
    in.path = path;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(in.name, sizeof(in.name), "%s", base);
    for (char *q = in.name; *q; q++)
        if ((unsigned char)*q < 0x20 || *q == 0x7F || *q == '|')
            *q = '?';
    in.size = ag_model_tensor_bytes(m);
    in.n_params = ag_model_n_params(m);
    char cnt[32];
    cli_fmt_count(in.n_params, cnt, sizeof(cnt));
    snprintf(in.model_type, sizeof(in.model_type), "%s %s %s", ag_model_arch(m), cnt, main_type(m));
    cpu_name(in.cpu, sizeof(in.cpu));
    in.n_threads = n_threads;
    in.n_batch = n_batch;
    in.type_k = type_k;
    in.type_v = type_v;
    in.bw_mib = bw_mib;
    in.read_gbps = -1;
    st = weight_bytes_per_token(m, &in.bytes_per_token, &in.tied);
    int32_t n_vocab = ag_model_n_vocab(m);
    if (st == AG_OK && n_vocab <= 0)
        st = AG_ERR_FORMAT;
    if (st != AG_OK) {
        int rc = cli_fail(st);
        ag_model_free(m);
        return rc;
    }

    ag_context_params cp = ag_context_default_params();
    cp.n_ctx = (int32_t)n_ctx;
    cp.n_batch = n_batch;
    cp.n_threads = n_threads;
    cp.type_k = type_k;
    cp.type_v = type_v;
    /* the state and KV sizes, as the planner counts them */
    ag_plan_params pp = ag_plan_default_params();
    pp.ctx = cp;
    pp.budget = UINT64_MAX;
    ag_plan plan;
    if (ag_plan_model(resolved, &pp, &plan) == AG_OK) {
        in.state_bytes = plan.recurrent;
        in.kv_per_pos = plan.ctx.n_ctx > 0 ? (double)plan.kv / plan.ctx.n_ctx : 0;
    }
    ag_context *c = NULL;
    st = ag_context_create(m, &cp, &c);
    if (st != AG_OK) {
        int rc = cli_fail(st);
        ag_model_free(m);
        return rc;
    }
    cli_sigint_install();
    ag_context_set_abort(c, cli_should_abort, NULL);

    /* passes: BW_PASSES before the tests, then one per decode repetition and one after */
    rd_meter rd = { .first_tg = -1 };
    if (bw_mib > 0) {
        if (rd_open(&rd, n_threads, (size_t)bw_mib << 20, BW_PASSES + (n_gen > 0 ? reps + 1 : 0))) {
            for (int i = 0; i < BW_PASSES; i++)
                rd_sample(&rd);
            in.read_gbps = rd_gbps(&rd, 0);
            in.read_passes = rd.n;
        }
        if (in.read_gbps < 0)
            fprintf(stderr, "airgap: warning: memory-read test skipped (cannot allocate %d MiB)\n",
                    (int)bw_mib);
    }
    if (!json)
        print_header(&in);

    int64_t scratch = n_prompt > depth ? n_prompt : depth;
    if (scratch < BENCH_TG_PROMPT)
        scratch = BENCH_TG_PROMPT;
    bench_run b = { c, n_vocab, 0x243F6A8885A308D3ull, malloc((size_t)scratch * sizeof(int32_t)) };
    bench_test tests[2];
    size_t n_tests = 0;
    if (n_prompt > 0)
        tests[n_tests++] = (bench_test){ "pp", n_prompt, 0, depth, reps, NULL, 0, 0, 0, 0, 0 };
    if (n_gen > 0)
        tests[n_tests++] = (bench_test){ "tg", 0, n_gen, depth, reps, NULL, 0, 0, 0, 0, 0 };
    int rc = b.tokens ? CLI_OK : cli_fail_msg("out of memory");
    size_t done = 0;
    for (; done < n_tests && rc == CLI_OK; done++) {
        rc = run_test(&b, &tests[done], &rd);
        if (rc == CLI_OK && rd.first_tg >= 0 && rd_gbps(&rd, rd.first_tg) > 0) {
            in.read_gbps = rd_gbps(&rd, rd.first_tg);
            in.read_passes = rd.n - rd.first_tg;
            in.read_in_tg = true;
        }
        if (rc == CLI_OK && !json)
            print_row(&in, &tests[done]);
    }
    if (rc == CLI_OK && !json)
        print_footer(&in);
    if (rc == CLI_OK && json)
        print_json(&in, tests, n_tests);
    rd_close(&rd);
    for (size_t i = 0; i < n_tests; i++)
        free(tests[i].ns);
    free(b.tokens);
    ag_context_free(c);
    ag_model_free(m);
    return rc;
}
