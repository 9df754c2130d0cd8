/* state.c: a sequence's state kept, restored and saved (issue 4, item 4).
 *
 * Why snapshots are cheap: the KV cache is append-only. The cache row at
 * position p is a function of tokens[0..p] alone, so the context remembers
 * which token produced every row it holds (c->tokens, valid up to
 * c->kv_valid), and a snapshot needs only what cannot be recomputed from
 * those rows: the recurrent (DeltaNet) state, which is overwritten in place
 * and cannot be rewound. Restoring checks that the context's rows still
 * belong to the snapshot's tokens; if they do, the cache is already right.
 *
 * Session files hold everything (the live cache rows too), so they restore
 * into any context of the same model with the same cache types:
 *
 *   "AGSESS01"                          8-byte magic + version
 *   u64 model fingerprint               FNV-1a of the tensor table + data heads
 *   u32 n_past, type_k, type_v, n_vocab, n_segs, has_logits
 *   u64 user blob length, payload length
 *   i32 tokens[n_past]
 *   per segment: n_past rows (KV) or its bytes (recurrent state)
 *   f32 logits[n_vocab] (if has_logits), user blob
 *   u64 FNV-1a of everything above
 *
 * Loading reads the whole file once to check size and checksum before it
 * touches the context, so a bad file never leaves a half-restored sequence.
 * Rejected: copying the cache into each snapshot (48 MiB at 4096 tokens,
 * per chat turn), and llama.cpp's "rewind the KV, re-read the rest" (it
 * cannot rewind the recurrent state, hence its full re-reads for Qwen3.5). */
#include "model/arch.h"
#include "core/status.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SEGS 4096
#define MAGIC "AGSESS01"

struct ag_snapshot {
    const ag_context *ctx;
    int32_t n;
    int32_t *tokens;
    uint8_t *rec;          /* the non-per-position segments, concatenated */
    size_t rec_bytes;
    float *logits;         /* NULL if the context had none */
};

static int segs_of(ag_context *c, ag_state_seg *segs) { return c->model->arch->state_segs(c, segs, MAX_SEGS); }

const int32_t *ag_context_tokens(const ag_context *c, size_t *n)
{
    if (n) *n = c ? (size_t)c->n_past : 0;
    return c ? c->tokens : NULL;
}

/* ---- snapshots ---- */

/* Bytes of the non-per-position segments (what a snapshot copies). */
static size_t rec_bytes_of(ag_context *c, ag_state_seg *segs, int *ns)
{
    size_t b = 0;
    *ns = segs_of(c, segs);
    for (int i = 0; i < *ns; i++)
        if (!segs[i].per_pos) b += segs[i].bytes;
    return b;
}

ag_status ag_snapshot_new(const ag_context *cc, int32_t n, ag_snapshot **out, uint8_t **rec, float **logits)
{
    *out = NULL;
    ag_context *c = (ag_context *)cc; /* segs_of only reads */
    ag_state_seg *segs = malloc(MAX_SEGS * sizeof(*segs));
    ag_snapshot *s = calloc(1, sizeof(*s));
    if (!segs || !s) goto nomem;
    int ns;
    s->rec_bytes = rec_bytes_of(c, segs, &ns);
    s->ctx = cc;
    s->n = n;
    s->tokens = malloc((size_t)(n ? n : 1) * sizeof(int32_t));
    s->rec = malloc(s->rec_bytes ? s->rec_bytes : 1);
    s->logits = logits ? malloc((size_t)c->model->n_vocab * sizeof(float)) : NULL;
    if (!s->tokens || !s->rec || (logits && !s->logits)) goto nomem;
    free(segs);
    *out = s;
    if (rec) *rec = s->rec;
    if (logits) *logits = s->logits;
    return AG_OK;
nomem:
    free(segs);
    ag_snapshot_free(s);
    return ag_fail(AG_ERR_NOMEM, "snapshot: out of memory");
}

void ag_snapshot_set_tokens(ag_snapshot *s, const int32_t *tokens)
{
    memcpy(s->tokens, tokens, (size_t)s->n * sizeof(int32_t));
}

ag_status ag_snapshot_fill(const ag_context *cc, ag_snapshot *s)
{
    ag_context *c = (ag_context *)cc;
    ag_state_seg *segs = malloc(MAX_SEGS * sizeof(*segs));
    if (!segs) return ag_fail(AG_ERR_NOMEM, "snapshot: out of memory");
    int ns = segs_of(c, segs);
    size_t off = 0;
    for (int i = 0; i < ns; i++)
        if (!segs[i].per_pos) {
            memcpy(s->rec + off, segs[i].p, segs[i].bytes);
            off += segs[i].bytes;
        }
    free(segs);
    return AG_OK;
}

ag_status ag_snapshot_take(const ag_context *cc, ag_snapshot **out)
{
    if (!out) return ag_fail(AG_ERR_INVALID_ARG, "ag_snapshot_take: out is NULL");
    *out = NULL;
    if (!cc) return ag_fail(AG_ERR_INVALID_ARG, "ag_snapshot_take: context is NULL");
    float *logits = NULL;
    ag_status st = ag_snapshot_new(cc, cc->n_past, out, NULL, cc->logits_rows > 0 ? &logits : NULL);
    if (st == AG_OK) {
        ag_snapshot_set_tokens(*out, cc->tokens);
        st = ag_snapshot_fill(cc, *out);
    }
    if (st != AG_OK) {
        ag_snapshot_free(*out);
        *out = NULL;
        return st;
    }
    if (logits) {
        size_t V = (size_t)cc->model->n_vocab;
        memcpy(logits, cc->logits + (cc->logits_rows - 1) * V, V * sizeof(float));
    }
    return AG_OK;
}

void ag_snapshot_free(ag_snapshot *s)
{
    if (!s) return;
    free(s->tokens);
    free(s->rec);
    free(s->logits);
    free(s);
}

const int32_t *ag_snapshot_tokens(const ag_snapshot *s, size_t *n)
{
    if (n) *n = s ? (size_t)s->n : 0;
    return s ? s->tokens : NULL;
}

/* Room for one logits row (restores keep the last row as row 0). */
static ag_status logits_row(ag_context *c)
{
    if (c->logits_cap_rows >= 1) return AG_OK;
    float *l = malloc((size_t)c->model->n_vocab * sizeof(float));
    if (!l) return ag_fail(AG_ERR_NOMEM, "out of memory for logits");
    free(c->logits);
    c->logits = l;
    c->logits_cap_rows = 1;
    return AG_OK;
}

static bool restorable(const ag_context *c, const ag_snapshot *s)
{
    return s && s->ctx == c && s->n <= c->kv_valid &&
           memcmp(s->tokens, c->tokens, (size_t)s->n * sizeof(int32_t)) == 0;
}

ag_status ag_snapshot_restore(ag_context *c, const ag_snapshot *s)
{
    if (!c || !s) return ag_fail(AG_ERR_INVALID_ARG, "ag_snapshot_restore: NULL argument");
    if (s->ctx != c) return ag_fail(AG_ERR_INVALID_ARG, "ag_snapshot_restore: the snapshot belongs to another context");
    if (!restorable(c, s))
        return ag_fail(AG_ERR_INVALID_ARG,
                       "ag_snapshot_restore: the context's cache no longer holds the snapshot's %d tokens "
                       "(it was reset or rewound and fed other tokens since)", s->n);
    if (s->logits) {
        ag_status st = logits_row(c);
        if (st != AG_OK) return st;
    }
    ag_state_seg *segs = malloc(MAX_SEGS * sizeof(*segs));
    if (!segs) return ag_fail(AG_ERR_NOMEM, "ag_snapshot_restore: out of memory");
    int ns = segs_of(c, segs);
    size_t off = 0;
    for (int i = 0; i < ns; i++)
        if (!segs[i].per_pos) {
            memcpy(segs[i].p, s->rec + off, segs[i].bytes);
            off += segs[i].bytes;
        }
    free(segs);
    c->n_past = s->n;
    c->logits_rows = 0;
    if (s->logits) {
        memcpy(c->logits, s->logits, (size_t)c->model->n_vocab * sizeof(float));
        c->logits_rows = 1;
    }
    return AG_OK;
}

static size_t common_prefix(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
    size_t i = 0;
    while (i < na && i < nb && a[i] == b[i]) i++;
    return i;
}

ag_status ag_context_resume(ag_context *c, ag_snapshot *const *snaps, size_t n_snaps, const int32_t *tokens,
                            size_t n, size_t *n_reused)
{
    if (!c || !n_reused || (n && !tokens) || (n_snaps && !snaps))
        return ag_fail(AG_ERR_INVALID_ARG, "ag_context_resume: NULL argument");
    *n_reused = 0;
    /* the context as it is: usable if all of it is a prefix (and, to skip
     * everything, it has the last token's logits) */
    size_t best = 0;
    const ag_snapshot *from = NULL;
    bool live = c->n_past > 0 && (size_t)c->n_past <= n &&
                common_prefix(c->tokens, (size_t)c->n_past, tokens, n) == (size_t)c->n_past &&
                ((size_t)c->n_past < n || c->logits_rows > 0);
    if (live) best = (size_t)c->n_past;
    for (size_t i = 0; i < n_snaps; i++) {
        const ag_snapshot *s = snaps[i];
        if (!s || (size_t)s->n <= best || (size_t)s->n > n || !restorable(c, s)) continue;
        if ((size_t)s->n == n && !s->logits) continue;
        if (common_prefix(s->tokens, (size_t)s->n, tokens, n) != (size_t)s->n) continue;
        best = (size_t)s->n;
        from = s;
    }
    if (from) {
        ag_status st = ag_snapshot_restore(c, from);
        if (st != AG_OK) return st;
    } else if (!live) {
        ag_context_reset(c);
        best = 0;
    } else if (best == n && c->logits_rows > 1) { /* the last token's logits as row 0 */
        size_t V = (size_t)c->model->n_vocab;
        memmove(c->logits, c->logits + (c->logits_rows - 1) * V, V * sizeof(float));
        c->logits_rows = 1;
    }
    *n_reused = best;
    return AG_OK;
}

/* ---- session files ---- */

typedef struct {
    uint64_t h;
} fnv;
static void fnv_init(fnv *f) { f->h = 0xcbf29ce484222325ull; }
static void fnv_add(fnv *f, const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t h = f->h;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    f->h = h;
}

/* Identifies the model the state was computed with: the tensor table (names,
 * types, shapes, sizes) and the first bytes of every tensor's data. */
static uint64_t model_fingerprint(const ag_model *m)
{
    fnv f;
    fnv_init(&f);
    fnv_add(&f, m->arch_name, strlen(m->arch_name));
    const ag_gguf *g = m->gguf;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const ag_gguf_tensor *t = &g->tensors[i];
        fnv_add(&f, t->name, strlen(t->name));
        fnv_add(&f, &t->type, sizeof(t->type));
        fnv_add(&f, t->ne, sizeof(t->ne));
        fnv_add(&f, &t->n_bytes, sizeof(t->n_bytes));
        if (t->data) fnv_add(&f, t->data, t->n_bytes < 64 ? (size_t)t->n_bytes : 64);
    }
    return f.h;
}

typedef struct {
    char magic[8];
    uint64_t fingerprint;
    uint32_t n_past, type_k, type_v, n_vocab, n_segs, has_logits;
    uint64_t user_len, payload;
} sess_header;

typedef struct {
    FILE *f;
    fnv h;
    bool err;
} writer;

static void put(writer *w, const void *p, size_t n)
{
    if (w->err || n == 0) return;
    fnv_add(&w->h, p, n);
    if (fwrite(p, 1, n, w->f) != n) w->err = true;
}

ag_status ag_context_save_file(const ag_context *cc, const ag_snapshot *snap, const char *path, const void *user,
                               size_t user_len)
{
    if (!cc || !path || (user_len && !user)) return ag_fail(AG_ERR_INVALID_ARG, "ag_context_save_file: NULL argument");
    ag_context *c = (ag_context *)cc;
    if (snap && !restorable(c, snap))
        return ag_fail(AG_ERR_INVALID_ARG, "ag_context_save_file: the snapshot cannot be restored into this context");
    int32_t n_past = snap ? snap->n : c->n_past;
    const int32_t *tokens = snap ? snap->tokens : c->tokens;
    const float *last = snap ? snap->logits
                        : c->logits_rows > 0 ? c->logits + (c->logits_rows - 1) * (size_t)c->model->n_vocab : NULL;
    ag_state_seg *segs = malloc(MAX_SEGS * sizeof(*segs));
    if (!segs) return ag_fail(AG_ERR_NOMEM, "ag_context_save_file: out of memory");
    int ns = segs_of(c, segs);
    size_t V = (size_t)c->model->n_vocab;
    sess_header hd;
    memset(&hd, 0, sizeof(hd));
    memcpy(hd.magic, MAGIC, 8);
    hd.fingerprint = model_fingerprint(c->model);
    hd.n_past = (uint32_t)n_past;
    hd.type_k = (uint32_t)c->params.type_k;
    hd.type_v = (uint32_t)c->params.type_v;
    hd.n_vocab = (uint32_t)V;
    hd.n_segs = (uint32_t)ns;
    hd.has_logits = last != NULL;
    hd.user_len = user_len;
    uint64_t payload = (uint64_t)n_past * sizeof(int32_t);
    for (int i = 0; i < ns; i++) payload += segs[i].per_pos ? (uint64_t)n_past * segs[i].row : segs[i].bytes;
    if (hd.has_logits) payload += V * sizeof(float);
    hd.payload = payload + user_len;

    /* write to PATH.tmp, then rename: an interrupted save never leaves a
     * half file under the final name */
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 5);
    if (!tmp) { free(segs); return ag_fail(AG_ERR_NOMEM, "ag_context_save_file: out of memory"); }
    memcpy(tmp, path, pl);
    memcpy(tmp + pl, ".tmp", 5);
    writer w = {fopen(tmp, "wb"), {0}, false};
    if (!w.f) {
        ag_status st = ag_fail(AG_ERR_IO, "%s: cannot write: %s", tmp, strerror(errno));
        free(tmp);
        free(segs);
        return st;
    }
    fnv_init(&w.h);
    put(&w, &hd, sizeof(hd));
    put(&w, tokens, (size_t)n_past * sizeof(int32_t));
    size_t off = 0; /* a snapshot's recurrent pieces, in segment order */
    for (int i = 0; i < ns; i++) {
        if (segs[i].per_pos) {
            put(&w, segs[i].p, (size_t)n_past * segs[i].row); /* rows are contiguous */
        } else if (snap) {
            put(&w, snap->rec + off, segs[i].bytes);
            off += segs[i].bytes;
        } else {
            put(&w, segs[i].p, segs[i].bytes);
        }
    }
    if (last) put(&w, last, V * sizeof(float));
    put(&w, user, user_len);
    uint64_t sum = w.h.h;
    if (!w.err && fwrite(&sum, 1, sizeof(sum), w.f) != sizeof(sum)) w.err = true;
    if (fclose(w.f) != 0) w.err = true;
    free(segs);
    if (w.err) {
        remove(tmp);
        ag_status st = ag_fail(AG_ERR_IO, "%s: write failed (disk full?)", path);
        free(tmp);
        return st;
    }
    if (rename(tmp, path) != 0) {
        ag_status st = ag_fail(AG_ERR_IO, "%s: cannot rename from %s: %s", path, tmp, strerror(errno));
        remove(tmp);
        free(tmp);
        return st;
    }
    free(tmp);
    return AG_OK;
}

typedef struct {
    FILE *f;
    fnv h;
    const char *path;
    uint64_t pos;
} reader;

static ag_status get(reader *r, void *p, size_t n, const char *what)
{
    if (n == 0) return AG_OK;
    size_t got = fread(p, 1, n, r->f);
    if (got != n)
        return ag_fail(AG_ERR_FORMAT, "%s: session file truncated: %s ends at byte %llu, %zu bytes short", r->path,
                       what, (unsigned long long)(r->pos + got), n - got);
    fnv_add(&r->h, p, n);
    r->pos += n;
    return AG_OK;
}

/* Reads (and hashes) n bytes into p, or skips them when p is NULL. */
static ag_status get_big(reader *r, void *p, uint64_t n, const char *what)
{
    uint8_t buf[1 << 16];
    while (n > 0) {
        size_t k = n > sizeof(buf) ? sizeof(buf) : (size_t)n;
        ag_status st = get(r, p ? p : buf, k, what);
        if (st != AG_OK) return st;
        if (p) p = (uint8_t *)p + k;
        n -= k;
    }
    return AG_OK;
}

#define TRY_ST(x)                         \
    do {                                  \
        st = (x);                         \
        if (st != AG_OK) goto out;        \
    } while (0)

ag_status ag_context_load_file(ag_context *c, const char *path, void **user, size_t *user_len)
{
    if (user) *user = NULL;
    if (user_len) *user_len = 0;
    if (!c || !path) return ag_fail(AG_ERR_INVALID_ARG, "ag_context_load_file: NULL argument");
    ag_state_seg *segs = malloc(MAX_SEGS * sizeof(*segs));
    if (!segs) return ag_fail(AG_ERR_NOMEM, "ag_context_load_file: out of memory");
    ag_status st = AG_OK;
    uint8_t *blob = NULL;
    reader r = {fopen(path, "rb"), {0}, path, 0};
    if (!r.f) {
        free(segs);
        return ag_fail(AG_ERR_IO, "%s: cannot open session file: %s", path, strerror(errno));
    }
    fnv_init(&r.h);
    sess_header hd;
    size_t got = fread(hd.magic, 1, 8, r.f);
    if (got < 8 || memcmp(hd.magic, MAGIC, 6) != 0) {
        st = ag_fail(AG_ERR_FORMAT, "%s: not an airgap session file", path);
        goto out;
    }
    if (memcmp(hd.magic, MAGIC, 8) != 0) {
        st = ag_fail(AG_ERR_FORMAT, "%s: session file version '%.2s' is not supported (this airgap reads %.2s)", path,
                     hd.magic + 6, MAGIC + 6);
        goto out;
    }
    fnv_add(&r.h, hd.magic, 8);
    r.pos = 8;
    TRY_ST(get(&r, (uint8_t *)&hd + 8, sizeof(hd) - 8, "the header"));
    if (hd.fingerprint != model_fingerprint(c->model)) {
        st = ag_fail(AG_ERR_INVALID_ARG, "%s: the session was saved with a different model than %s", path,
                     c->model->path);
        goto out;
    }
    size_t V = (size_t)c->model->n_vocab;
    int ns = segs_of(c, segs);
    if (hd.type_k != (uint32_t)c->params.type_k || hd.type_v != (uint32_t)c->params.type_v) {
        st = ag_fail(AG_ERR_INVALID_ARG, "%s: the session's KV cache is %s/%s but this context's is %s/%s "
                     "(pass the same --cache-type-k/-v)", path, ag_cache_type_name((ag_cache_type)hd.type_k),
                     ag_cache_type_name((ag_cache_type)hd.type_v), ag_cache_type_name(c->params.type_k),
                     ag_cache_type_name(c->params.type_v));
        goto out;
    }
    if (hd.n_vocab != V || hd.n_segs != (uint32_t)ns || hd.has_logits > 1) {
        st = ag_fail(AG_ERR_FORMAT, "%s: session header does not match the model (vocab %u, %u state pieces)", path,
                     hd.n_vocab, hd.n_segs);
        goto out;
    }
    if (hd.n_past > (uint32_t)c->params.n_ctx) {
        st = ag_fail(AG_ERR_INVALID_ARG, "%s: the session holds %u tokens but the context has room for %d (raise -c)",
                     path, hd.n_past, c->params.n_ctx);
        goto out;
    }
    uint64_t payload = (uint64_t)hd.n_past * sizeof(int32_t) + hd.user_len;
    for (int i = 0; i < ns; i++) payload += segs[i].per_pos ? (uint64_t)hd.n_past * segs[i].row : segs[i].bytes;
    if (hd.has_logits) payload += V * sizeof(float);
    if (hd.payload != payload || hd.user_len > (1ull << 32)) {
        st = ag_fail(AG_ERR_FORMAT, "%s: session header is inconsistent (payload %llu bytes, expected %llu)", path,
                     (unsigned long long)hd.payload, (unsigned long long)payload);
        goto out;
    }
    /* pass 1: size and checksum, the context untouched */
    TRY_ST(get_big(&r, NULL, hd.payload, "the state"));
    uint64_t sum, want = r.h.h;
    if (fread(&sum, 1, sizeof(sum), r.f) != sizeof(sum)) {
        st = ag_fail(AG_ERR_FORMAT, "%s: session file truncated: the checksum is missing", path);
        goto out;
    }
    if (sum != want) {
        st = ag_fail(AG_ERR_FORMAT, "%s: session file is corrupt (checksum mismatch)", path);
        goto out;
    }
    if (fgetc(r.f) != EOF) {
        st = ag_fail(AG_ERR_FORMAT, "%s: session file has trailing bytes after the checksum", path);
        goto out;
    }
    if (hd.user_len && user) {
        blob = malloc((size_t)hd.user_len);
        if (!blob) { st = ag_fail(AG_ERR_NOMEM, "%s: out of memory", path); goto out; }
    }
    if (hd.has_logits && (st = logits_row(c)) != AG_OK) goto out;
    /* pass 2: into the context; tokens are checked before anything is copied */
    if (fseek(r.f, (long)sizeof(hd), SEEK_SET) != 0) {
        st = ag_fail(AG_ERR_IO, "%s: cannot seek: %s", path, strerror(errno));
        goto out;
    }
    r.pos = sizeof(hd);
    int32_t *toks = malloc((size_t)(hd.n_past ? hd.n_past : 1) * sizeof(int32_t));
    if (!toks) { st = ag_fail(AG_ERR_NOMEM, "%s: out of memory", path); goto out; }
    st = get(&r, toks, (size_t)hd.n_past * sizeof(int32_t), "the tokens");
    for (uint32_t i = 0; st == AG_OK && i < hd.n_past; i++)
        if (toks[i] < 0 || toks[i] >= (int32_t)V)
            st = ag_fail(AG_ERR_FORMAT, "%s: token %d at position %u is outside the vocabulary", path, toks[i], i);
    if (st != AG_OK) { free(toks); goto out; }
    ag_context_reset(c);
    c->kv_valid = 0;
    memcpy(c->tokens, toks, (size_t)hd.n_past * sizeof(int32_t));
    free(toks);
    for (int i = 0; i < ns && st == AG_OK; i++)
        st = get_big(&r, segs[i].p, segs[i].per_pos ? (uint64_t)hd.n_past * segs[i].row : segs[i].bytes, "the state");
    if (st == AG_OK && hd.has_logits) st = get_big(&r, c->logits, V * sizeof(float), "the logits");
    if (st == AG_OK) st = get_big(&r, blob, hd.user_len, "the user data");
    if (st != AG_OK) { /* the file changed under us: leave an empty sequence */
        ag_context_reset(c);
        goto out;
    }
    c->n_past = (int32_t)hd.n_past;
    c->kv_valid = c->n_past;
    c->logits_rows = hd.has_logits ? 1 : 0;
    if (user) { *user = blob; blob = NULL; }
    if (user_len) *user_len = (size_t)hd.user_len;
out:
    free(blob);
    free(segs);
    fclose(r.f);
    return st;
}
