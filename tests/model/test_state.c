/* test_state.c: snapshots, prefix resume and session files (model/state.c).
 *
 * The bar is bit-identity: a sequence restored from a snapshot or a session
 * file must give exactly the logits an uninterrupted run gives, at every KV
 * cache type. And every damaged session file (truncated anywhere, a flipped
 * byte, another model, another cache type, too small a context) is refused
 * with a clear message before the context changes.
 *
 * ag_decode_snap's snapshot (a point inside the steps) is the state that
 * ag_decode up to the point plus ag_snapshot_take gives: bit-identical when
 * the point ends a step, and within rounding when it splits one (the steps
 * then group the tokens differently, so the kernels add in another order). */
#include "airgap.h"
#include "harness.h"
#include "logit_metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIX AG_SHARED_DIR "/fixtures/qwen35-tiny/"

enum { N1 = 37, N2 = 11, NX = 5 };

static ag_context *ctx(ag_model *m, ag_cache_type kv, int n_ctx)
{
    ag_context_params cp = ag_context_default_params();
    cp.n_ctx = n_ctx;
    cp.n_batch = 16;
    cp.n_threads = 2;
    cp.type_k = cp.type_v = kv;
    ag_context *c = NULL;
    CHECK(ag_context_create(m, &cp, &c) == AG_OK, "context: %s", ag_last_error());
    return c;
}

/* all logits of decoding toks[0..n) as the continuation of c */
static float *cont(ag_context *c, const int32_t *toks, int n, int V)
{
    float *out = malloc((size_t)n * V * sizeof(float));
    CHECK(ag_decode(c, toks, (size_t)n, true) == AG_OK, "decode: %s", ag_last_error());
    for (int t = 0; t < n; t++) memcpy(out + (size_t)t * V, ag_get_logits(c, (size_t)t), (size_t)V * sizeof(float));
    return out;
}

static void expect_refused(ag_context *c, const char *path, const char *what, const char *needle)
{
    int32_t before = ag_context_n_past(c);
    ag_status st = ag_context_load_file(c, path, NULL, NULL);
    CHECK(st != AG_OK, "%s: accepted", what);
    const char *msg = ag_last_error();
    CHECK(strstr(msg, needle) != NULL, "%s: message '%s' lacks '%s'", what, msg, needle);
    CHECK(strchr(msg, '\n') == NULL, "%s: message has a newline", what);
    CHECK(ag_context_n_past(c) == before, "%s: context changed (%d -> %d)", what, before, ag_context_n_past(c));
}

static void write_bytes(const char *path, const uint8_t *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL, "open %s", path);
    if (!f) return;
    if (n) fwrite(b, 1, n, f);
    fclose(f);
}

static uint8_t *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)sz + 1);
    *n = fread(b, 1, (size_t)sz, f);
    fclose(f);
    return b;
}

static void run_type(ag_model *m, ag_model *other, ag_cache_type kv)
{
    const int V = ag_model_n_vocab(m);
    int32_t p1[N1], p2[N2], px[NX];
    for (int i = 0; i < N1; i++) p1[i] = (i * 131 + 7) % V;
    for (int i = 0; i < N2; i++) p2[i] = (i * 71 + 3) % V;
    for (int i = 0; i < NX; i++) px[i] = (i * 17 + 1000) % V;
    const char *kn = ag_cache_type_name(kv);

    /* uninterrupted: P1 then P2 */
    ag_context *a = ctx(m, kv, 128);
    if (!a) return;
    free(cont(a, p1, N1, V));
    float *want = cont(a, p2, N2, V);

    /* snapshot after P1, wander off, restore, P2 again */
    ag_context *b = ctx(m, kv, 128);
    free(cont(b, p1, N1, V));
    ag_snapshot *s1 = NULL;
    CHECK(ag_snapshot_take(b, &s1) == AG_OK, "take: %s", ag_last_error());
    size_t ns = 0;
    CHECK(ag_snapshot_tokens(s1, &ns) && ns == N1, "%s: snapshot has %zu tokens", kn, ns);
    free(cont(b, px, NX, V));
    CHECK(ag_snapshot_restore(b, s1) == AG_OK, "restore: %s", ag_last_error());
    CHECK(ag_context_n_past(b) == N1, "%s: n_past %d after restore", kn, ag_context_n_past(b));
    float *got = cont(b, p2, N2, V);
    CHECK(memcmp(got, want, (size_t)N2 * V * sizeof(float)) == 0, "%s: restored logits differ", kn);
    free(got);

    /* resume picks the snapshot for P1+P2 (the live context is P1+P2 too,
     * but without logits for its last token it is only as good as s1) */
    int32_t all[N1 + N2];
    memcpy(all, p1, sizeof(p1));
    memcpy(all + N1, p2, sizeof(p2));
    free(cont(b, px, NX, V)); /* live = P1 P2 X: not a prefix */
    size_t reused = 99;
    CHECK(ag_context_resume(b, &s1, 1, all, N1 + N2, &reused) == AG_OK, "resume: %s", ag_last_error());
    CHECK(reused == N1, "%s: resume reused %zu, want %d", kn, reused, N1);
    got = cont(b, all + reused, (int)(N1 + N2 - reused), V);
    CHECK(memcmp(got, want, (size_t)N2 * V * sizeof(float)) == 0, "%s: resumed logits differ", kn);
    free(got);
    /* the live context now is exactly P1 P2 with logits: reuse everything */
    CHECK(ag_context_resume(b, &s1, 1, all, N1 + N2, &reused) == AG_OK && reused == N1 + N2,
          "%s: full reuse gave %zu", kn, reused);
    CHECK(memcmp(ag_get_logits(b, 0), want + (size_t)(N2 - 1) * V, (size_t)V * sizeof(float)) == 0,
          "%s: logits after full reuse differ", kn);
    /* an unrelated prompt: nothing to reuse, the context is reset */
    CHECK(ag_context_resume(b, &s1, 1, px, NX, &reused) == AG_OK && reused == 0 && ag_context_n_past(b) == 0,
          "%s: unrelated prompt reused %zu", kn, reused);

    /* overwrite the cache rows under s1: it must refuse */
    free(cont(b, px, NX, V));
    CHECK(ag_snapshot_restore(b, s1) == AG_ERR_INVALID_ARG, "%s: stale snapshot restored", kn);
    CHECK(strstr(ag_last_error(), "no longer holds") != NULL, "message: %s", ag_last_error());
    CHECK(ag_snapshot_restore(a, s1) == AG_ERR_INVALID_ARG, "%s: snapshot restored into another context", kn);

    /* session file after P1, loaded into a fresh context */
    char path[256];
    snprintf(path, sizeof(path), "%s/test_state_%s.sess", AG_BUILD_DIR, kn);
    ag_context *c = ctx(m, kv, 128);
    free(cont(c, p1, N1, V));
    const char blob[] = "chat history";
    CHECK(ag_context_save_file(c, NULL, path, blob, sizeof(blob)) == AG_OK, "save: %s", ag_last_error());
    ag_context *d = ctx(m, kv, 64);
    void *ub = NULL;
    size_t ul = 0;
    CHECK(ag_context_load_file(d, path, &ub, &ul) == AG_OK, "load: %s", ag_last_error());
    CHECK(ul == sizeof(blob) && ub && memcmp(ub, blob, ul) == 0, "%s: user blob lost", kn);
    free(ub);
    CHECK(ag_context_n_past(d) == N1, "%s: loaded n_past %d", kn, ag_context_n_past(d));
    got = cont(d, p2, N2, V);
    CHECK(memcmp(got, want, (size_t)N2 * V * sizeof(float)) == 0, "%s: logits after loading the file differ", kn);
    free(got);

    /* damaged files, refused before the context changes */
    size_t n = 0;
    uint8_t *bytes = read_all(path, &n);
    CHECK(bytes && n > 200, "read back %s", path);
    char bad[300];
    snprintf(bad, sizeof(bad), "%s.bad", path);
    if (bytes) {
        size_t cuts[] = {0, 3, 8, 40, 60, 61, n / 3, n / 2, n - 9, n - 1};
        for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
            write_bytes(bad, bytes, cuts[i]);
            char what[64];
            snprintf(what, sizeof(what), "%s cut at %zu", kn, cuts[i]);
            expect_refused(d, bad, what, cuts[i] < 8 ? "session" : "truncated");
        }
        size_t flips[] = {100, n / 2, n - 20};
        for (size_t i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
            bytes[flips[i]] ^= 0x40;
            write_bytes(bad, bytes, n);
            bytes[flips[i]] ^= 0x40;
            expect_refused(d, bad, "flipped byte", "corrupt");
        }
        bytes[7] = '9';
        write_bytes(bad, bytes, n);
        expect_refused(d, bad, "future version", "version");
        free(bytes);
    }
    write_bytes(bad, (const uint8_t *)"GGUF not a session at all", 25);
    expect_refused(d, bad, "other file", "not an airgap session");
    expect_refused(d, AG_BUILD_DIR "/no/such/file.sess", "missing file", "cannot open");
    ag_context *small = ctx(m, kv, 16);
    expect_refused(small, path, "small context", "raise -c");
    ag_context_free(small);
    ag_context *e = ctx(m, kv == AG_CACHE_F16 ? AG_CACHE_Q8_0 : AG_CACHE_F16, 128);
    expect_refused(e, path, "other cache type", "KV cache");
    ag_context_free(e);
    ag_context *o = ctx(other, kv, 128);
    expect_refused(o, path, "other model", "different model");
    ag_context_free(o);
    remove(bad);
    remove(path);

    free(want);
    ag_snapshot_free(s1);
    ag_context_free(a);
    ag_context_free(b);
    ag_context_free(c);
    ag_context_free(d);
}

/* nrmse of n rows of logits against want */
static double dist(const float *got, const float *want, int n, int V)
{
    double e, t;
    metrics(got, want, n, V, &e, &t);
    return e;
}

/* ag_decode_snap: P1 then P2 in one call, the snapshot at the end of P1
 * (at = n1, inside or at the end of a step of 16), against ag_decode(P1) +
 * take; then both snapshots restored and continued with X. */
static void run_mark(ag_model *m, ag_cache_type kv, int n1, bool all)
{
    const int V = ag_model_n_vocab(m), n2 = 29;
    int32_t p[64], px[NX];
    for (int i = 0; i < n1 + n2; i++) p[i] = (i * 131 + 7) % V;
    for (int i = 0; i < NX; i++) px[i] = (i * 17 + 1000) % V;
    const char *kn = ag_cache_type_name(kv);
    const bool exact = n1 % 16 == 0; /* the point ends a step */
    /* other step groupings round differently (~1e-6 here); in an 8- or
     * 4-bit cache such a difference can move a key or value across a code
     * boundary (q8_0 at 21: 2e-4), still far inside the fixture's 1e-3 */
    const double tol = kv == AG_CACHE_F16 || kv == AG_CACHE_F32 ? 1e-4 : 1e-3;

    ag_context *a = ctx(m, kv, 128), *b = ctx(m, kv, 128);
    if (!a || !b) return;
    float *at_a = cont(a, p, n1, V); /* row n1 - 1: the point's logits */
    ag_snapshot *sa = NULL, *sb = NULL;
    CHECK(ag_snapshot_take(a, &sa) == AG_OK, "take: %s", ag_last_error());
    float *end_a = cont(a, p + n1, n2, V);

    CHECK(ag_decode_snap(b, p, (size_t)(n1 + n2), all, (size_t)n1, &sb) == AG_OK && sb, "%s decode_snap at %d: %s", kn,
          n1, ag_last_error());
    if (!sb) goto done;
    size_t ns = 0;
    CHECK(ag_snapshot_tokens(sb, &ns) && ns == (size_t)n1 && memcmp(ag_snapshot_tokens(sb, NULL), p, ns * 4) == 0,
          "%s at %d: snapshot has %zu tokens", kn, n1, ns);
    CHECK(ag_context_n_past(b) == n1 + n2, "%s at %d: n_past %d", kn, n1, ag_context_n_past(b));
    const float *last = ag_get_logits(b, all ? (size_t)(n1 + n2 - 1) : 0);
    double e = dist(last, end_a + (size_t)(n2 - 1) * V, 1, V);
    CHECK(e <= tol, "%s at %d: last logits nrmse %.3g from separate decodes", kn, n1, e);
    float *row = all ? malloc((size_t)V * sizeof(float)) : NULL; /* the point's row of all_logits */
    if (row) memcpy(row, ag_get_logits(b, (size_t)n1 - 1), (size_t)V * sizeof(float));

    /* restored: the point's logits, then the same continuation */
    CHECK(ag_snapshot_restore(b, sb) == AG_OK, "restore: %s", ag_last_error());
    e = dist(ag_get_logits(b, 0), at_a + (size_t)(n1 - 1) * V, 1, V);
    CHECK(exact ? e == 0 : e <= tol, "%s at %d: the snapshot's logits nrmse %.3g", kn, n1, e);
    if (row) CHECK(memcmp(row, ag_get_logits(b, 0), (size_t)V * sizeof(float)) == 0, "%s at %d: logits row", kn, n1);
    float *xb = cont(b, px, NX, V);
    CHECK(ag_snapshot_restore(a, sa) == AG_OK, "restore: %s", ag_last_error());
    float *xa = cont(a, px, NX, V);
    e = dist(xb, xa, NX, V);
    CHECK(exact ? memcmp(xb, xa, (size_t)NX * V * sizeof(float)) == 0 : e <= tol,
          "%s at %d: continued from the snapshot: nrmse %.3g", kn, n1, e);
    free(xa);
    free(xb);
    free(row);
done:
    ag_snapshot_free(sa);
    ag_snapshot_free(sb);
    free(at_a);
    free(end_a);
    ag_context_free(a);
    ag_context_free(b);
}

/* refusals leave the context as it was and *snap NULL */
static void mark_refused(ag_model *m)
{
    ag_context *c = ctx(m, AG_CACHE_F16, 40);
    if (!c) return;
    int32_t p[64] = {0};
    ag_snapshot *s = (ag_snapshot *)p; /* not NULL: must come back NULL */
    CHECK(ag_decode_snap(c, p, 10, false, 0, &s) == AG_ERR_INVALID_ARG && !s, "at 0 accepted");
    s = (ag_snapshot *)p;
    CHECK(ag_decode_snap(c, p, 10, false, 11, &s) == AG_ERR_INVALID_ARG && !s, "at > n accepted");
    CHECK(strstr(ag_last_error(), "11") != NULL, "message: %s", ag_last_error());
    CHECK(ag_decode_snap(c, p, 10, false, 5, NULL) == AG_ERR_INVALID_ARG, "NULL snap accepted");
    s = (ag_snapshot *)p;
    CHECK(ag_decode_snap(c, p, 41, false, 5, &s) == AG_ERR_CONTEXT_FULL && !s, "overflow accepted");
    CHECK(ag_context_n_past(c) == 0, "context changed: n_past %d", ag_context_n_past(c));
    ag_context_free(c);
}

int main(void)
{
    ag_model *m = NULL, *other = NULL;
    CHECK(ag_model_load(FIX "tiny-f32.gguf", NULL, &m) == AG_OK, "load: %s", ag_last_error());
    CHECK(ag_model_load(FIX "tiny-q8_0.gguf", NULL, &other) == AG_OK, "load: %s", ag_last_error());
    if (m && other) {
        run_type(m, other, AG_CACHE_F16);
        run_type(m, other, AG_CACHE_F32);
        run_type(m, other, AG_CACHE_Q8_0);
        run_type(m, other, AG_CACHE_Q4_0);
        const ag_cache_type kvs[4] = {AG_CACHE_F16, AG_CACHE_F32, AG_CACHE_Q8_0, AG_CACHE_Q4_0};
        const int points[] = {1, 5, 16, 21, 32, 33};
        for (int k = 0; k < 4; k++)
            for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++) run_mark(m, kvs[k], points[i], i % 2 == 1);
        mark_refused(m);
    }
    ag_model_free(m);
    ag_model_free(other);
    return REPORT();
}
