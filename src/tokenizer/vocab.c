/* vocab.c: loading the byte-level BPE vocabulary from a GGUF's tokenizer.* keys.
 *
 * Stage 2 of 5 (tokenize), setup part. Reads tokenizer.ggml.{model, pre,
 * tokens, token_type, merges, eos_token_id, ...}, validates all of it (ids in
 * range, array types and lengths, merges of the form "A B"), and builds the
 * lookup structures described in tok_internal.h. Token texts are not copied:
 * they point into the GGUF, which must outlive the vocab.
 *
 * Decisions (see also docs in vocab.h):
 *   - tokenizer.ggml.model must be "gpt2"; anything else is AG_ERR_UNSUPPORTED.
 *   - tokenizer.ggml.pre "qwen35" or "qwen2"; a missing pre is read as "qwen2"
 *     (old Qwen2 conversions predate the key; llama.cpp would fall back to its
 *     GPT-2 "default" regex, which no Qwen model uses). Other values are
 *     AG_ERR_UNSUPPORTED.
 *   - token_type is optional (all NORMAL); values outside 0..6 are an error.
 *   - merges are required (as in llama.cpp); a merge is split at the first
 *     space after its first byte, and both halves must be non-empty. Duplicate
 *     pairs keep their first (lowest) rank; duplicate token texts resolve to
 *     the last id, as llama.cpp's token_to_id map does.
 *   - the end-of-generation set is spec 5.1: the tokens whose text is
 *     <|im_end|>, <|endoftext|>, <|fim_pad|>, <|repo_name|>, <|file_sep|>
 *     (forced to CONTROL like llama.cpp does) plus the EOS id.
 *   - special ids (eos, bos, padding, unknown, separator) must be in range
 *     when present: a wrong id is a broken file, not something to guess at.
 *
 * Load cost is one hash per token and three lookups per merge (~30 ms for
 * the 151,936-token Qwen2 vocabulary with 151,387 merges), memory ~7 MB for
 * it (symbol table 2 MB, merge table 4 MB). Rejected: a
 * string-keyed merge map (slower BPE, more memory), sorting merges for binary
 * search (slower lookups, no real saving). */
#include "tokenizer/tok_internal.h"

#include "core/status.h"
#include "tokenizer/unicode.h"

#include <stdlib.h>
#include <string.h>

/* ---- GPT-2 byte <-> code point map (spec 5.2 step 3) ---- */

static uint32_t byte_to_cp(unsigned b)
{
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) return b;
    /* the other 68 bytes map, in increasing order, to U+0100, U+0101, ... */
    unsigned n = 0;
    for (unsigned c = 0; c < b; c++)
        if (!((c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF))) n++;
    return 0x100 + n;
}

static size_t utf8_encode(uint32_t cp, char *out)
{
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
}

/* ---- interning table: text -> symbol ---- */

static uint32_t pow2_at_least(uint64_t n)
{
    uint64_t c = 16;
    while (c < n) c <<= 1;
    return c > (1u << 31) ? 0 : (uint32_t)c;
}

static const ag_str *sym_str(const ag_vocab *v, int32_t s)
{
    return s < v->n_tokens ? &v->text[s] : &v->sym_text[s - v->n_tokens];
}

static bool sym_equals(const ag_str *t, const char *a, size_t na, const char *b, size_t nb)
{
    return t->n == na + nb && (na == 0 || memcmp(t->p, a, na) == 0) && (nb == 0 || memcmp(t->p + na, b, nb) == 0);
}

/* Slot of text a+b: the one holding it, or the empty slot where it would go. */
static uint32_t intern_slot(const ag_vocab *v, const char *a, size_t na, const char *b, size_t nb)
{
    uint64_t h = ag_tok_hash(ag_tok_hash(AG_TOK_HASH_INIT, a, na), b, nb);
    uint32_t i = (uint32_t)h & v->intern_mask;
    for (;;) {
        uint32_t s = v->intern[i];
        if (s == 0 || sym_equals(sym_str(v, (int32_t)s - 1), a, na, b, nb)) return i;
        i = (i + 1) & v->intern_mask;
    }
}

int32_t ag_vocab_intern_find(const ag_vocab *v, const char *p, size_t n)
{
    uint32_t s = v->intern[intern_slot(v, p, n, NULL, 0)];
    return s ? (int32_t)(s - 1) : -1;
}

static ag_status intern_grow(ag_vocab *v)
{
    uint32_t cap = (v->intern_mask + 1) * 2;
    if (cap == 0 || cap > (1u << 30)) return ag_fail(AG_ERR_NOMEM, "tokenizer: symbol table too large");
    uint32_t *table = calloc(cap, sizeof(*table));
    if (!table) return ag_fail(AG_ERR_NOMEM, "tokenizer: out of memory (symbol table)");
    free(v->intern);
    v->intern = table;
    v->intern_mask = cap - 1;
    /* re-insert every symbol; a duplicate text keeps the later id as before */
    for (int32_t s = 0; s < v->n_syms; s++) {
        const ag_str *t = sym_str(v, s);
        uint32_t i = intern_slot(v, t->p, (size_t)t->n, NULL, 0);
        v->intern[i] = (uint32_t)s + 1;
    }
    return AG_OK;
}

/* Symbol of a merge half: existing, or a new non-token symbol. */
static ag_status intern_add(ag_vocab *v, const char *p, size_t n, size_t *sym_cap, int32_t *out)
{
    uint32_t i = intern_slot(v, p, n, NULL, 0);
    if (v->intern[i]) {
        *out = (int32_t)v->intern[i] - 1;
        return AG_OK;
    }
    size_t extra = (size_t)(v->n_syms - v->n_tokens);
    if (extra >= *sym_cap) {
        size_t cap = *sym_cap ? *sym_cap * 2 : 64;
        ag_str *t = realloc(v->sym_text, cap * sizeof(*t));
        if (!t) return ag_fail(AG_ERR_NOMEM, "tokenizer: out of memory (symbols)");
        v->sym_text = t;
        *sym_cap = cap;
    }
    v->sym_text[extra] = (ag_str){p, n};
    v->intern[i] = (uint32_t)v->n_syms + 1;
    *out = v->n_syms++;
    if ((uint64_t)v->n_syms * 2 > (uint64_t)v->intern_mask + 1) return intern_grow(v);
    return AG_OK;
}

/* ---- merge table ---- */

static uint32_t merge_hash(int32_t a, int32_t b)
{
    return (uint32_t)ag_tok_mix(((uint64_t)(uint32_t)a << 32) | (uint32_t)b);
}

const ag_merge_slot *ag_vocab_merge_find(const ag_vocab *v, int32_t a, int32_t b)
{
    if (a < 0 || b < 0 || !v->merges) return NULL;
    uint32_t i = merge_hash(a, b) & v->merge_mask;
    for (;;) {
        const ag_merge_slot *m = &v->merges[i];
        if (m->left < 0) return NULL;
        if (m->left == a && m->right == b) return m;
        i = (i + 1) & v->merge_mask;
    }
}

/* ---- special-token trie ---- */

uint32_t ag_vocab_trie_child(const ag_vocab *v, uint32_t node, uint8_t b)
{
    uint32_t key = node << 8 | b;
    uint32_t i = (uint32_t)ag_tok_mix(key) & v->trie_mask;
    for (;;) {
        const ag_trie_slot *s = &v->trie[i];
        if (s->child == 0) return 0;
        if (s->key == key) return s->child;
        i = (i + 1) & v->trie_mask;
    }
}

typedef struct spec_key {
    uint64_t len;
    int32_t id;
} spec_key;

static int cmp_special(const void *pa, const void *pb)
{
    const spec_key *a = pa, *b = pb;
    if (a->len != b->len) return a->len > b->len ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

static bool is_special_type(uint8_t t)
{
    return t == AG_TOK_CONTROL || t == AG_TOK_USER_DEFINED || t == AG_TOK_UNKNOWN;
}

/* Builds the trie of special-token texts. node_tok[2*node] is the rank of the
 * first special (in split order) whose text ends at node, node_tok[2*node+1]
 * the first USER_DEFINED one; -1 if none. spec_rank maps rank -> token id. */
static ag_status build_specials(ag_vocab *v, const char *path)
{
    int32_t n_spec = 0;
    uint64_t total = 1;
    for (int32_t t = 0; t < v->n_tokens; t++) {
        if (is_special_type(v->type[t]) && v->text[t].n > 0) {
            n_spec++;
            total += v->text[t].n;
        }
    }
    if (total >= (1u << 23)) /* node << 8 must fit in 32 bits */
        return ag_fail(AG_ERR_UNSUPPORTED, "%s: special tokens hold %llu bytes of text (limit %u)", path,
                       (unsigned long long)total, (1u << 23) - 1);
    spec_key *order = malloc(((size_t)n_spec + 1) * sizeof(*order));
    v->spec_rank = malloc(((size_t)n_spec + 1) * sizeof(*v->spec_rank));
    v->node_tok = malloc(2 * (size_t)total * sizeof(*v->node_tok));
    uint32_t cap = pow2_at_least(2 * total);
    v->trie = cap ? calloc(cap, sizeof(*v->trie)) : NULL;
    if (!order || !v->spec_rank || !v->node_tok || !v->trie) {
        free(order);
        return ag_fail(AG_ERR_NOMEM, "%s: out of memory (special tokens)", path);
    }
    v->trie_mask = cap - 1;
    n_spec = 0;
    for (int32_t t = 0; t < v->n_tokens; t++)
        if (is_special_type(v->type[t]) && v->text[t].n > 0) order[n_spec++] = (spec_key){v->text[t].n, t};
    qsort(order, (size_t)n_spec, sizeof(*order), cmp_special);

    v->n_nodes = 1;
    v->node_tok[0] = v->node_tok[1] = -1;
    for (int32_t r = 0; r < n_spec; r++) {
        int32_t t = order[r].id;
        v->spec_rank[r] = (uint32_t)t;
        const uint8_t *s = (const uint8_t *)v->text[t].p;
        uint32_t node = 0;
        for (uint64_t k = 0; k < v->text[t].n; k++) {
            uint32_t child = ag_vocab_trie_child(v, node, s[k]);
            if (!child) {
                child = v->n_nodes++;
                v->node_tok[2 * child] = v->node_tok[2 * child + 1] = -1;
                uint32_t key = node << 8 | s[k];
                uint32_t i = (uint32_t)ag_tok_mix(key) & v->trie_mask;
                while (v->trie[i].child) i = (i + 1) & v->trie_mask;
                v->trie[i].key = key;
                v->trie[i].child = child;
            }
            node = child;
        }
        if (v->node_tok[2 * node] < 0) v->node_tok[2 * node] = r;
        if (v->type[t] == AG_TOK_USER_DEFINED && v->node_tok[2 * node + 1] < 0) v->node_tok[2 * node + 1] = r;
        v->first_any[s[0] >> 3] |= (uint8_t)(1u << (s[0] & 7));
        if (v->type[t] == AG_TOK_USER_DEFINED) v->first_user[s[0] >> 3] |= (uint8_t)(1u << (s[0] & 7));
    }
    free(order);
    return AG_OK;
}

/* ---- pieces ---- */

bool ag_vocab_piece_src(const ag_vocab *v, int32_t token, bool special, ag_str *src, bool *decode)
{
    uint8_t t = v->type[token];
    *src = v->text[token];
    *decode = false;
    if (t == AG_TOK_NORMAL) {
        *decode = true;
        return true;
    }
    if (t == AG_TOK_USER_DEFINED || (t == AG_TOK_CONTROL && special)) return true;
    src->n = 0;
    return false;
}

/* GPT-2 byte decoding of src into out (NULL: only count). Characters outside
 * the byte alphabet (and invalid UTF-8) are copied as they are. */
static size_t decode_text(const ag_vocab *v, ag_str src, char *out)
{
    const uint8_t *s = (const uint8_t *)src.p;
    size_t n = (size_t)src.n, o = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t len = ag_utf8_decode(s + i, n - i, &cp);
        if (cp < 0x144 && v->cp_byte[cp] >= 0) {
            if (out) out[o] = (char)v->cp_byte[cp];
            o++;
        } else {
            if (out) memcpy(out + o, s + i, len);
            o += len;
        }
        i += len;
    }
    return o;
}

ag_status ag_vocab_piece(const ag_vocab *v, int32_t token, bool special, char *buf, size_t cap, size_t *n_out)
{
    if (n_out) *n_out = 0;
    if (!v || !n_out || (cap && !buf))
        return ag_fail(AG_ERR_INVALID_ARG, "ag_token_to_piece: NULL argument");
    if (token < 0 || token >= v->n_tokens)
        return ag_fail(AG_ERR_INVALID_ARG, "ag_token_to_piece: token %d out of range [0, %d)", token, v->n_tokens);
    ag_str src;
    bool dec;
    ag_vocab_piece_src(v, token, special, &src, &dec);
    size_t n = dec ? decode_text(v, src, NULL) : (size_t)src.n;
    *n_out = n;
    if (n > cap)
        return ag_fail(AG_ERR_BUFFER_TOO_SMALL, "ag_token_to_piece: token %d needs %zu bytes, buffer has %zu",
                       token, n, cap);
    if (dec) decode_text(v, src, buf);
    else if (n) memcpy(buf, src.p, n);
    return AG_OK;
}

/* ---- getters ---- */

int32_t ag_vocab_n_tokens(const ag_vocab *v) { return v ? v->n_tokens : 0; }

bool ag_vocab_is_eog(const ag_vocab *v, int32_t t)
{
    return v && t >= 0 && t < v->n_tokens && (v->flags[t] & AG_TOK_EOG);
}

bool ag_vocab_is_control(const ag_vocab *v, int32_t t)
{
    return v && t >= 0 && t < v->n_tokens && v->type[t] == AG_TOK_CONTROL;
}

int32_t ag_vocab_eos(const ag_vocab *v) { return v ? v->eos : -1; }

int32_t ag_vocab_find(const ag_vocab *v, const char *text)
{
    if (!v || !text) return -1;
    int32_t s = ag_vocab_intern_find(v, text, strlen(text));
    return s < v->n_tokens ? s : -1;
}

size_t ag_vocab_max_piece(const ag_vocab *v) { return v ? v->max_piece : 0; }

/* ---- load ---- */

void ag_vocab_free(ag_vocab *v)
{
    if (!v) return;
    free(v->type);
    free(v->flags);
    free(v->sym_text);
    free(v->intern);
    free(v->merges);
    free(v->node_tok);
    free(v->trie);
    free(v->spec_rank);
    free(v);
}

static const ag_gguf_kv *find_kv(const ag_gguf *g, const char *key)
{
    int64_t i = ag_gguf_find_key(g, key);
    return i < 0 ? NULL : &g->kv[i];
}

static bool str_is(ag_str s, const char *lit)
{
    return s.n == strlen(lit) && memcmp(s.p, lit, s.n) == 0;
}

static bool is_int_type(uint32_t t)
{
    return t <= AG_GGUF_I32 || t == AG_GGUF_U64 || t == AG_GGUF_I64;
}

/* A printable, bounded rendering of file text for error messages. */
static const char *shown(ag_str s, char *buf, size_t cap)
{
    size_t o = 0;
    for (uint64_t i = 0; i < s.n && o + 5 < cap; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (c >= 0x20 && c < 0x7F) buf[o++] = (char)c;
        else o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
    }
    buf[o] = 0;
    return buf;
}

static ag_status read_special_id(const ag_gguf *g, ag_vocab *v, const char *key, int32_t *out)
{
    const ag_gguf_kv *kv = find_kv(g, key);
    if (out) *out = -1;
    if (!kv) return AG_OK;
    if (!is_int_type(kv->type))
        return ag_fail(AG_ERR_FORMAT, "%s: key '%s' has type %s, expected an integer", g->path, key,
                       ag_gguf_vtype_name(kv->type));
    int64_t id;
    ag_status st = ag_gguf_get_i64(g, key, &id);
    if (st) return st;
    if (id < 0 || id >= v->n_tokens)
        return ag_fail(AG_ERR_FORMAT, "%s: key '%s' = %lld is not a token id (vocabulary has %d tokens)", g->path,
                       key, (long long)id, v->n_tokens);
    if (out) *out = (int32_t)id;
    return AG_OK;
}

static ag_status load_tokens(const ag_gguf *g, ag_vocab *v)
{
    const ag_gguf_kv *kv = find_kv(g, "tokenizer.ggml.tokens");
    if (!kv) return ag_fail(AG_ERR_FORMAT, "%s: key 'tokenizer.ggml.tokens' not found", g->path);
    if (kv->type != AG_GGUF_ARRAY || kv->arr_type != AG_GGUF_STRING)
        return ag_fail(AG_ERR_FORMAT, "%s: key 'tokenizer.ggml.tokens' must be an array of strings", g->path);
    if (kv->n == 0) return ag_fail(AG_ERR_FORMAT, "%s: 'tokenizer.ggml.tokens' is empty", g->path);
    if (kv->n > (1u << 28))
        return ag_fail(AG_ERR_UNSUPPORTED, "%s: %llu tokens (limit %u)", g->path, (unsigned long long)kv->n,
                       1u << 28);
    v->n_tokens = (int32_t)kv->n;
    v->text = kv->strs;
    for (int32_t t = 0; t < v->n_tokens; t++)
        if (v->text[t].n > AG_TOK_MAX_TEXT)
            return ag_fail(AG_ERR_FORMAT, "%s: token %d: text is %llu bytes (limit %d)", g->path, t,
                           (unsigned long long)v->text[t].n, AG_TOK_MAX_TEXT);

    v->type = malloc((size_t)v->n_tokens);
    v->flags = calloc((size_t)v->n_tokens, 1);
    if (!v->type || !v->flags) return ag_fail(AG_ERR_NOMEM, "%s: out of memory (token types)", g->path);
    memset(v->type, AG_TOK_NORMAL, (size_t)v->n_tokens);
    const ag_gguf_kv *tt = find_kv(g, "tokenizer.ggml.token_type");
    if (tt) {
        if (tt->type != AG_GGUF_ARRAY || !is_int_type(tt->arr_type))
            return ag_fail(AG_ERR_FORMAT, "%s: key 'tokenizer.ggml.token_type' must be an array of integers",
                           g->path);
        if (tt->n != kv->n)
            return ag_fail(AG_ERR_FORMAT, "%s: 'tokenizer.ggml.token_type' has %llu entries, tokens has %d",
                           g->path, (unsigned long long)tt->n, v->n_tokens);
        for (int32_t t = 0; t < v->n_tokens; t++) {
            int64_t x = ag_gguf_arr_i64(tt, (uint64_t)t);
            if (x < AG_TOK_UNDEFINED || x > AG_TOK_BYTE)
                return ag_fail(AG_ERR_FORMAT, "%s: token %d: token_type %lld is not in 0..6", g->path, t,
                               (long long)x);
            v->type[t] = (uint8_t)x;
        }
    }

    /* symbols 0..n_tokens-1 are the tokens themselves */
    v->n_syms = v->n_tokens;
    uint32_t cap = pow2_at_least(2 * (uint64_t)v->n_tokens + 2);
    v->intern = cap ? calloc(cap, sizeof(*v->intern)) : NULL;
    if (!v->intern) return ag_fail(AG_ERR_NOMEM, "%s: out of memory (token table)", g->path);
    v->intern_mask = cap - 1;
    for (int32_t t = 0; t < v->n_tokens; t++) {
        uint32_t i = intern_slot(v, v->text[t].p, (size_t)v->text[t].n, NULL, 0);
        v->intern[i] = (uint32_t)t + 1; /* duplicates: the last id wins */
    }
    return AG_OK;
}

static ag_status load_merges(const ag_gguf *g, ag_vocab *v)
{
    const ag_gguf_kv *kv = find_kv(g, "tokenizer.ggml.merges");
    if (!kv) return ag_fail(AG_ERR_FORMAT, "%s: key 'tokenizer.ggml.merges' not found (required for gpt2)", g->path);
    if (kv->type != AG_GGUF_ARRAY || kv->arr_type != AG_GGUF_STRING)
        return ag_fail(AG_ERR_FORMAT, "%s: key 'tokenizer.ggml.merges' must be an array of strings", g->path);
    if (kv->n > (1u << 28))
        return ag_fail(AG_ERR_UNSUPPORTED, "%s: %llu merges (limit %u)", g->path, (unsigned long long)kv->n,
                       1u << 28);
    v->n_merges = (int32_t)kv->n;
    uint32_t cap = pow2_at_least((uint64_t)v->n_merges * 10 / 7 + 1);
    v->merges = cap ? malloc((size_t)cap * sizeof(*v->merges)) : NULL;
    if (!v->merges) return ag_fail(AG_ERR_NOMEM, "%s: out of memory (merges)", g->path);
    for (uint32_t i = 0; i < cap; i++) v->merges[i].left = -1;
    v->merge_mask = cap - 1;

    size_t sym_cap = 0;
    for (int32_t r = 0; r < v->n_merges; r++) {
        ag_str m = kv->strs[r];
        const char *sp = m.n > 1 ? memchr(m.p + 1, ' ', (size_t)m.n - 1) : NULL;
        if (!sp || sp + 1 == m.p + m.n) {
            char buf[80];
            return ag_fail(AG_ERR_FORMAT, "%s: merge %d ('%s') is not of the form 'A B'", g->path, r,
                           shown(m, buf, sizeof(buf)));
        }
        size_t na = (size_t)(sp - m.p), nb = (size_t)m.n - na - 1;
        int32_t a, b;
        ag_status st = intern_add(v, m.p, na, &sym_cap, &a);
        if (!st) st = intern_add(v, sp + 1, nb, &sym_cap, &b);
        if (st) return st;
        /* The result: a token or a merge half; otherwise it can never merge
         * again nor be emitted whole, so it needs no identity (-1). */
        uint32_t s = v->intern[intern_slot(v, m.p, na, sp + 1, nb)];
        int32_t res = s ? (int32_t)s - 1 : -1;
        uint32_t i = merge_hash(a, b) & v->merge_mask;
        while (v->merges[i].left >= 0 && !(v->merges[i].left == a && v->merges[i].right == b))
            i = (i + 1) & v->merge_mask;
        if (v->merges[i].left < 0) /* a duplicate pair keeps its first rank */
            v->merges[i] = (ag_merge_slot){a, b, res, (uint32_t)r};
    }
    return AG_OK;
}

/* Merge results interned after their merge was read ("A B" listed before
 * "AB" became a merge half) got -1 above; resolve them now. */
static void fix_merge_results(const ag_gguf *g, ag_vocab *v)
{
    const ag_gguf_kv *kv = find_kv(g, "tokenizer.ggml.merges");
    for (uint32_t i = 0; i <= v->merge_mask; i++) {
        ag_merge_slot *m = &v->merges[i];
        if (m->left < 0 || m->result >= 0) continue;
        ag_str t = kv->strs[m->rank];
        const char *sp = memchr(t.p + 1, ' ', (size_t)t.n - 1);
        size_t na = (size_t)(sp - t.p);
        uint32_t s = v->intern[intern_slot(v, t.p, na, sp + 1, (size_t)t.n - na - 1)];
        m->result = s ? (int32_t)s - 1 : -1;
    }
}

ag_status ag_vocab_load(const ag_gguf *g, ag_vocab **out)
{
    if (!out) return ag_fail(AG_ERR_INVALID_ARG, "ag_vocab_load: out is NULL");
    *out = NULL;
    if (!g) return ag_fail(AG_ERR_INVALID_ARG, "ag_vocab_load: gguf is NULL");
    char buf[80];

    const ag_gguf_kv *model = find_kv(g, "tokenizer.ggml.model");
    if (!model) return ag_fail(AG_ERR_FORMAT, "%s: key 'tokenizer.ggml.model' not found (no tokenizer)", g->path);
    if (model->type != AG_GGUF_STRING)
        return ag_fail(AG_ERR_FORMAT, "%s: key 'tokenizer.ggml.model' must be a string", g->path);
    if (!str_is(model->str, "gpt2"))
        return ag_fail(AG_ERR_UNSUPPORTED, "%s: tokenizer model '%s' is not supported (only 'gpt2' byte-level BPE)",
                       g->path, shown(model->str, buf, sizeof(buf)));

    ag_pretok pre = AG_PRETOK_QWEN2;
    const ag_gguf_kv *kpre = find_kv(g, "tokenizer.ggml.pre");
    if (kpre) {
        if (kpre->type != AG_GGUF_STRING)
            return ag_fail(AG_ERR_FORMAT, "%s: key 'tokenizer.ggml.pre' must be a string", g->path);
        if (str_is(kpre->str, "qwen35")) pre = AG_PRETOK_QWEN35;
        else if (str_is(kpre->str, "qwen2")) pre = AG_PRETOK_QWEN2;
        else
            return ag_fail(AG_ERR_UNSUPPORTED, "%s: pre-tokenizer '%s' is not supported (only 'qwen35', 'qwen2')",
                           g->path, shown(kpre->str, buf, sizeof(buf)));
    }

    ag_vocab *v = calloc(1, sizeof(*v));
    if (!v) return ag_fail(AG_ERR_NOMEM, "%s: out of memory (vocab)", g->path);
    v->pre = pre;
    ag_status st = load_tokens(g, v);
    if (!st) st = read_special_id(g, v, "tokenizer.ggml.eos_token_id", &v->eos);
    if (!st) st = read_special_id(g, v, "tokenizer.ggml.bos_token_id", NULL);
    if (!st) st = read_special_id(g, v, "tokenizer.ggml.padding_token_id", NULL);
    if (!st) st = read_special_id(g, v, "tokenizer.ggml.unknown_token_id", NULL);
    if (!st) st = read_special_id(g, v, "tokenizer.ggml.seperator_token_id", NULL);
    if (!st) st = load_merges(g, v);
    if (st) goto fail;
    fix_merge_results(g, v);

    for (unsigned b = 0; b < 256; b++) {
        char u[4];
        size_t n = utf8_encode(byte_to_cp(b), u);
        v->byte_sym[b] = ag_vocab_intern_find(v, u, n);
    }
    for (unsigned c = 0; c < 0x144; c++) v->cp_byte[c] = -1;
    for (unsigned b = 0; b < 256; b++) v->cp_byte[byte_to_cp(b)] = (int16_t)b;

    static const char *const eog_texts[] = {"<|im_end|>", "<|endoftext|>", "<|fim_pad|>", "<|repo_name|>",
                                            "<|file_sep|>"};
    for (size_t i = 0; i < sizeof(eog_texts) / sizeof(eog_texts[0]); i++) {
        int32_t t = ag_vocab_find(v, eog_texts[i]);
        if (t < 0) continue;
        v->flags[t] |= AG_TOK_EOG;
        v->type[t] = AG_TOK_CONTROL;
    }
    if (v->eos >= 0) v->flags[v->eos] |= AG_TOK_EOG;

    st = build_specials(v, g->path);
    if (st) goto fail;

    for (int32_t t = 0; t < v->n_tokens; t++) {
        ag_str src;
        bool dec;
        ag_vocab_piece_src(v, t, true, &src, &dec);
        size_t n = dec ? decode_text(v, src, NULL) : (size_t)src.n;
        if (n > v->max_piece) v->max_piece = n;
    }
    *out = v;
    return AG_OK;
fail:
    ag_vocab_free(v);
    return st;
}
