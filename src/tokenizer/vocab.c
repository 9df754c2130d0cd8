/* vocab.c: loading the byte-level BPE vocabulary from a GGUF's tokenizer.* keys.
 *
 * Stage 2 of 5 (tokenize), setup part. Reads tokenizer.ggml.{model, pre,
 * tokens, token_type, merges, eos_token_id, ...}, validates all of it (ids in
 * range, array types and lengths, merges of the form "A B"), and builds the
 * compact lookup structures described in tok_internal.h. The vocab copies
 * what it needs and keeps no pointer into the GGUF; once built, the file
 * pages of the big tokenizer arrays are handed back (ag_gguf_release).
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
 * Load: one pass over the tokens (stored texts copied, interned in a
 * temporary text -> symbol hash table, hashed for the find index), one over
 * the merges, then stable counting sorts (by right, then left symbol, then
 * bucket) put the merges in CSR order without comparisons; the find index
 * is a radix sort by text hash. ~50 ms for a 248k-token vocabulary with
 * 248k merges (the first version: ~45 ms). Resident afterwards: 4.9 MB for
 * it (texts 1.7 MB, their offsets 0.65, types 0.25, merges 1.75, find index
 * 0.55), against 18 MB of heap plus 10 MB of mapped file pages for the
 * first version (an ag_str per token and merge string, an intern hash of
 * 2^19 x 4 B kept for lookups, a merge hash of 2^19 x 16 B). Rejected: a
 * merge hash table (16-byte slots at load factor 0.5 were 8 MB; packed
 * slots that only hold a rank need the pair stored elsewhere anyway); a
 * plain binary search in the CSR groups (groups of common left symbols
 * have ~1000 merges: BPE got 2x slower; the buckets keep it within ~1.3x of
 * the hash table); keeping token texts in the mapping (their pages come
 * back as soon as tokens are detokenized, and the encoded form is 40%
 * larger); a sorted text index for find (same size as the hash-sorted one,
 * but needs a string sort at load). */
#include "tokenizer/tok_internal.h"

#include "core/status.h"
#include "tokenizer/unicode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__unix__) || defined(__APPLE__)
#include <sys/mman.h>
#endif

typedef unsigned long long ull;

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

/* ---- packed arrays (reads in tok_internal.h) ---- */

static uint32_t bits_for(uint64_t max_value)
{
    uint32_t b = 0;
    while (b < 64 && (max_value >> b)) b++;
    return b;
}

/* n zeroed values of width bits (<= 32). */
static bool packed_alloc(ag_packed *a, uint64_t n, uint32_t width)
{
    a->width = width;
    a->bits = calloc((size_t)((n * width + 7) / 8 + 8), 1);
    return a->bits != NULL;
}

/* Sets value i, which must still be 0 (each value is written once). */
static void packed_set(ag_packed *a, size_t i, uint32_t value)
{
    uint64_t bit = (uint64_t)i * a->width, x = (uint64_t)value << (bit & 7);
    for (uint8_t *p = a->bits + (bit >> 3); x; x >>= 8) *p++ |= (uint8_t)x;
}

/* ---- load-time scratch ---- */

/* The load's big temporary arrays (up to 11 MB for a 248k vocabulary, all freed
 * before ag_vocab_load returns) come straight from mmap, so they go back to
 * the OS at once. Through malloc they did not: glibc raises its mmap
 * threshold after the first big free, later scratch lands in the heap, and
 * 3 MB of freed pages stayed resident. Under ASan plain calloc, so overflows
 * are still caught. The size sits in a 64-byte header. */
#if defined(__SANITIZE_ADDRESS__)
#define SCRATCH_MMAP 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SCRATCH_MMAP 0
#endif
#endif
#if !defined(SCRATCH_MMAP) && defined(MAP_ANONYMOUS)
#define SCRATCH_MMAP 1
#endif
#ifndef SCRATCH_MMAP
#define SCRATCH_MMAP 0
#endif

static void *scratch_alloc(size_t n) /* zeroed */
{
    if (n > SIZE_MAX - 64) return NULL;
#if SCRATCH_MMAP
    void *p = mmap(NULL, n + 64, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
#else
    void *p = calloc(1, n + 64);
    if (!p) return NULL;
#endif
    memcpy(p, &n, sizeof(n));
    return (char *)p + 64;
}

static void scratch_free(void *q)
{
    if (!q) return;
    char *p = (char *)q - 64;
#if SCRATCH_MMAP
    size_t n;
    memcpy(&n, p, sizeof(n));
    munmap(p, n + 64);
#else
    free(p);
#endif
}

/* n values of size bytes each, or NULL (also on overflow). */
static void *scratch_array(uint64_t n, size_t size)
{
    return n > (SIZE_MAX - 64) / size ? NULL : scratch_alloc((size_t)n * size);
}

/* ---- stored text forms ---- */

/* The stored form of the text s[0..n): if it is a sequence of well-formed
 * UTF-8 characters of the GPT-2 byte alphabet, their bytes (*dec = true);
 * otherwise s itself. Writes to out (capacity n) unless out is NULL;
 * returns the stored length. */
static size_t canon(const ag_vocab *v, const uint8_t *s, size_t n, uint8_t *out, bool *dec)
{
    size_t o = 0;
    for (size_t i = 0; i < n; o++) {
        uint32_t cp;
        uint8_t c = s[i];
        if (c < 0x80) {
            cp = c;
            i++;
        } else if (c >= 0xC2 && c <= 0xDF && i + 1 < n && (s[i + 1] & 0xC0) == 0x80) {
            cp = (uint32_t)(c & 0x1F) << 6 | (s[i + 1] & 0x3F);
            i += 2;
        } else {
            goto keep;
        }
        if (cp >= 0x144 || v->cp_byte[cp] < 0) goto keep;
        if (out) out[o] = (uint8_t)v->cp_byte[cp];
    }
    *dec = true;
    return o;
keep:
    if (out && n) memcpy(out, s, n);
    *dec = false;
    return n;
}

static const uint8_t *tok_text(const ag_vocab *v, int32_t t, size_t *n)
{
    uint32_t a = ag_packed_get(&v->text_off, (size_t)t), b = ag_packed_get(&v->text_off, (size_t)t + 1);
    *n = b - a;
    return v->blob + a;
}

static uint64_t text_hash(bool dec, const uint8_t *p, size_t n)
{
    uint8_t f = dec;
    return ag_tok_hash(ag_tok_hash(AG_TOK_HASH_INIT, &f, 1), p, n);
}

static uint32_t tok_hash32(const ag_vocab *v, int32_t t)
{
    size_t n;
    const uint8_t *p = tok_text(v, t, &n);
    return (uint32_t)ag_tok_mix(text_hash(v->info[t] & AG_TOK_DEC, p, n));
}

/* The file's (GPT-2 encoded) form of decoded bytes. */
static size_t encode_text(const ag_vocab *v, const uint8_t *p, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t cp = v->byte_cp[p[i]];
        if (cp < 0x80) {
            if (out) out[o] = (char)cp;
            o++;
        } else {
            if (out) {
                out[o] = (char)(0xC0 | (cp >> 6));
                out[o + 1] = (char)(0x80 | (cp & 0x3F));
            }
            o += 2;
        }
    }
    return o;
}

/* GPT-2 byte decoding of a text kept as it is (it holds characters outside
 * the byte alphabet or invalid UTF-8, which are copied as they are). */
static size_t decode_text(const ag_vocab *v, const uint8_t *s, size_t n, char *out)
{
    size_t o = 0;
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

/* The text of token t as in the file (out: NULL to only count). */
static size_t file_text(const ag_vocab *v, int32_t t, char *out)
{
    size_t n;
    const uint8_t *p = tok_text(v, t, &n);
    if (v->info[t] & AG_TOK_DEC) return encode_text(v, p, n, out);
    if (out && n) memcpy(out, p, n);
    return n;
}

/* Piece bytes (see ag_vocab_piece): NORMAL decoded, USER_DEFINED as text,
 * CONTROL as text if special, others empty. out NULL: only count. */
static size_t piece(const ag_vocab *v, int32_t t, bool special, char *out)
{
    uint8_t type = v->info[t] & AG_TOK_TYPE_MASK;
    if (type == AG_TOK_NORMAL) {
        size_t n;
        const uint8_t *p = tok_text(v, t, &n);
        if (!(v->info[t] & AG_TOK_DEC)) return decode_text(v, p, n, out);
        if (out && n) memcpy(out, p, n);
        return n;
    }
    if (type == AG_TOK_USER_DEFINED || (type == AG_TOK_CONTROL && special)) return file_text(v, t, out);
    return 0;
}

ag_status ag_vocab_piece(const ag_vocab *v, int32_t token, bool special, char *buf, size_t cap, size_t *n_out)
{
    if (n_out) *n_out = 0;
    if (!v || !n_out || (cap && !buf))
        return ag_fail(AG_ERR_INVALID_ARG, "ag_token_to_piece: NULL argument");
    if (token < 0 || token >= v->n_tokens)
        return ag_fail(AG_ERR_INVALID_ARG, "ag_token_to_piece: token %d out of range [0, %d)", token, v->n_tokens);
    size_t n = piece(v, token, special, NULL);
    *n_out = n;
    if (n > cap)
        return ag_fail(AG_ERR_BUFFER_TOO_SMALL, "ag_token_to_piece: token %d needs %zu bytes, buffer has %zu",
                       token, n, cap);
    piece(v, token, special, buf);
    return AG_OK;
}

/* ---- merges ---- */

bool ag_vocab_merge_find(const ag_vocab *v, int32_t a, int32_t b, uint32_t *rank, int32_t *result)
{
    if (a < 0 || b < 0 || a >= v->n_syms) return false;
    uint32_t f = ag_packed_get(&v->merge_first, (size_t)a), n = ag_packed_get(&v->merge_first, (size_t)a + 1) - f;
    uint32_t lo = f, hi = f + n;
    if (n >= 8) {
        uint32_t k = ag_merge_bucket_bits(n), j = ag_merge_bucket((uint32_t)b, k), base = ag_merge_bucket_base(f);
        lo = f + (j ? ag_packed_get(&v->merge_bucket, base + j - 1) : 0);
        hi = j + 1 < (1u << k) ? f + ag_packed_get(&v->merge_bucket, base + j) : hi;
    }
    for (; lo < hi; lo++) {
        if (ag_packed_get(&v->merge_right, lo) != (uint32_t)b) continue;
        *rank = ag_packed_get(&v->merge_rank, lo);
        *result = v->merge_result.width ? (int32_t)ag_packed_get(&v->merge_result, lo) - 1
                                        : (int32_t)*rank + v->result_base;
        return true;
    }
    return false;
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

static uint32_t pow2_at_least(uint64_t n)
{
    uint64_t c = 16;
    while (c < n) c <<= 1;
    return c > (1u << 31) ? 0 : (uint32_t)c;
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

static bool is_special_type(uint8_t info)
{
    uint8_t t = info & AG_TOK_TYPE_MASK;
    return t == AG_TOK_CONTROL || t == AG_TOK_USER_DEFINED || t == AG_TOK_UNKNOWN;
}

/* Builds the trie of special-token texts (as in the file). node_tok[2*node]
 * is the rank of the first special (in split order) whose text ends at node,
 * node_tok[2*node+1] the first USER_DEFINED one; -1 if none. spec_rank maps
 * rank -> token id. */
static ag_status build_specials(ag_vocab *v, const char *path)
{
    int32_t n_spec = 0;
    uint64_t total = 1;
    for (int32_t t = 0; t < v->n_tokens; t++) {
        size_t n = is_special_type(v->info[t]) ? file_text(v, t, NULL) : 0;
        if (n > 0) {
            n_spec++;
            total += n;
        }
    }
    if (total >= (1u << 23)) /* node << 8 must fit in 32 bits */
        return ag_fail(AG_ERR_UNSUPPORTED, "%s: special tokens hold %llu bytes of text (limit %u)", path, (ull)total,
                       (1u << 23) - 1);
    spec_key *order = malloc(((size_t)n_spec + 1) * sizeof(*order));
    char *text = malloc(AG_TOK_MAX_TEXT); /* a token's file text is at most that long */
    v->spec_rank = malloc(((size_t)n_spec + 1) * sizeof(*v->spec_rank));
    v->node_tok = malloc(2 * (size_t)total * sizeof(*v->node_tok));
    uint32_t cap = pow2_at_least(2 * total);
    v->trie = cap ? calloc(cap, sizeof(*v->trie)) : NULL;
    if (!order || !text || !v->spec_rank || !v->node_tok || !v->trie) {
        free(order);
        free(text);
        return ag_fail(AG_ERR_NOMEM, "%s: out of memory (special tokens)", path);
    }
    v->trie_mask = cap - 1;
    n_spec = 0;
    for (int32_t t = 0; t < v->n_tokens; t++) {
        size_t n = is_special_type(v->info[t]) ? file_text(v, t, NULL) : 0;
        if (n > 0) order[n_spec++] = (spec_key){n, t};
    }
    qsort(order, (size_t)n_spec, sizeof(*order), cmp_special);

    v->n_nodes = 1;
    v->node_tok[0] = v->node_tok[1] = -1;
    for (int32_t r = 0; r < n_spec; r++) {
        int32_t t = order[r].id;
        v->spec_rank[r] = (uint32_t)t;
        size_t n = file_text(v, t, text);
        const uint8_t *s = (const uint8_t *)text;
        uint32_t node = 0;
        for (size_t k = 0; k < n; k++) {
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
        uint8_t type = v->info[t] & AG_TOK_TYPE_MASK;
        if (v->node_tok[2 * node] < 0) v->node_tok[2 * node] = r;
        if (type == AG_TOK_USER_DEFINED && v->node_tok[2 * node + 1] < 0) v->node_tok[2 * node + 1] = r;
        v->first_any[s[0] >> 3] |= (uint8_t)(1u << (s[0] & 7));
        if (type == AG_TOK_USER_DEFINED) v->first_user[s[0] >> 3] |= (uint8_t)(1u << (s[0] & 7));
    }
    free(order);
    free(text);
    return AG_OK;
}

/* ---- getters ---- */

int32_t ag_vocab_n_tokens(const ag_vocab *v) { return v ? v->n_tokens : 0; }

bool ag_vocab_is_eog(const ag_vocab *v, int32_t t)
{
    return v && t >= 0 && t < v->n_tokens && (v->info[t] & AG_TOK_EOG);
}

bool ag_vocab_is_control(const ag_vocab *v, int32_t t)
{
    return v && t >= 0 && t < v->n_tokens && (v->info[t] & AG_TOK_TYPE_MASK) == AG_TOK_CONTROL;
}

int32_t ag_vocab_eos(const ag_vocab *v) { return v ? v->eos : -1; }

/* Binary search of the hash-sorted ids; the last id with that text wins. */
static int32_t find_stored(const ag_vocab *v, bool dec, const uint8_t *q, size_t qn)
{
    uint32_t h = (uint32_t)ag_tok_mix(text_hash(dec, q, qn));
    size_t lo = 0, hi = (size_t)v->n_tokens;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (tok_hash32(v, (int32_t)ag_packed_get(&v->find_ids, mid)) < h) lo = mid + 1;
        else hi = mid;
    }
    int32_t found = -1;
    for (; lo < (size_t)v->n_tokens; lo++) {
        int32_t t = (int32_t)ag_packed_get(&v->find_ids, lo);
        if (tok_hash32(v, t) != h) break;
        size_t n;
        const uint8_t *p = tok_text(v, t, &n);
        if (!(v->info[t] & AG_TOK_DEC) == !dec && n == qn && (n == 0 || memcmp(p, q, n) == 0)) found = t;
    }
    return found;
}

int32_t ag_vocab_find(const ag_vocab *v, const char *text)
{
    if (!v || !text) return -1;
    size_t n = strlen(text);
    if (n > AG_TOK_MAX_TEXT) return -1;
    uint8_t small[256], *q = n <= sizeof(small) ? small : malloc(n);
    if (!q) return -1;
    bool dec;
    size_t qn = canon(v, (const uint8_t *)text, n, q, &dec);
    int32_t t = find_stored(v, dec, q, qn);
    if (q != small) free(q);
    return t;
}

size_t ag_vocab_max_piece(const ag_vocab *v) { return v ? v->max_piece : 0; }

void ag_vocab_free(ag_vocab *v)
{
    if (!v) return;
    free(v->info);
    free(v->blob);
    free(v->text_off.bits);
    free(v->merge_first.bits);
    free(v->merge_bucket.bits);
    free(v->merge_right.bits);
    free(v->merge_rank.bits);
    free(v->merge_result.bits);
    free(v->find_ids.bits);
    free(v->node_tok);
    free(v->trie);
    free(v->spec_rank);
    free(v);
}

/* ---- load: reading the keys ---- */

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

/* A string array that ends before its count: only if the file changed on
 * disk after it was validated (the reader checked every length). */
static ag_status walk_ended(const ag_gguf *g, const char *key, uint64_t at)
{
    return ag_fail(AG_ERR_FORMAT, "%s: '%s' ends at entry %llu, before its count (file changed while open?)",
                   g->path, key, (ull)at);
}

/* ---- load: the temporary text -> symbol table ---- */

/* State that lives only during ag_vocab_load. Symbols >= n_tokens (merge
 * halves that are no token) keep their stored text in x_blob. */
typedef struct loader {
    uint32_t *intern;       /* open addressing: 0 empty, else symbol + 1 */
    uint32_t mask;
    uint8_t *x_blob;
    size_t x_len, x_cap;
    size_t *x_off;          /* per extra symbol: start of its text in x_blob, */
    size_t *x_n;            /* its length */
    uint8_t *x_dec;         /* and whether it is the decoded form */
    size_t x_count, x_count_cap;
    uint8_t *buf;           /* scratch for one merge: raw "A"+"B", then a stored form */
    size_t buf_cap;
} loader;

static void sym_text(const ag_vocab *v, const loader *ld, int32_t s, const uint8_t **p, size_t *n, bool *dec)
{
    if (s < v->n_tokens) {
        *p = tok_text(v, s, n);
        *dec = v->info[s] & AG_TOK_DEC;
    } else {
        size_t x = (size_t)(s - v->n_tokens);
        *p = ld->x_blob + ld->x_off[x];
        *n = ld->x_n[x];
        *dec = ld->x_dec[x];
    }
}

/* Slot of a stored text: the one holding it, or the empty one where it would go. */
/* h: ag_tok_mix of text_hash (FNV-1a alone clusters in the low bits for short texts). */
static uint32_t intern_slot_h(const ag_vocab *v, const loader *ld, uint64_t h, bool dec, const uint8_t *q,
                              size_t qn)
{
    uint32_t i = (uint32_t)h & ld->mask;
    for (;;) {
        uint32_t s = ld->intern[i];
        if (s == 0) return i;
        const uint8_t *p;
        size_t n;
        bool d;
        sym_text(v, ld, (int32_t)s - 1, &p, &n, &d);
        if (d == dec && n == qn && (n == 0 || memcmp(p, q, n) == 0)) return i;
        i = (i + 1) & ld->mask;
    }
}

static uint32_t intern_slot(const ag_vocab *v, const loader *ld, bool dec, const uint8_t *q, size_t qn)
{
    return intern_slot_h(v, ld, ag_tok_mix(text_hash(dec, q, qn)), dec, q, qn);
}

static int32_t intern_find(const ag_vocab *v, const loader *ld, bool dec, const uint8_t *q, size_t qn)
{
    uint32_t s = ld->intern[intern_slot(v, ld, dec, q, qn)];
    return s ? (int32_t)s - 1 : -1;
}

static ag_status intern_grow(ag_vocab *v, loader *ld)
{
    uint64_t cap = ((uint64_t)ld->mask + 1) * 2;
    if (cap > (1u << 30)) return ag_fail(AG_ERR_NOMEM, "tokenizer: symbol table too large");
    uint32_t *table = scratch_array(cap, sizeof(*table));
    if (!table) return ag_fail(AG_ERR_NOMEM, "tokenizer: out of memory (symbol table)");
    scratch_free(ld->intern);
    ld->intern = table;
    ld->mask = (uint32_t)cap - 1;
    /* re-insert every symbol; a duplicate text keeps the later id as before */
    for (int32_t s = 0; s < v->n_syms; s++) {
        const uint8_t *p;
        size_t n;
        bool d;
        sym_text(v, ld, s, &p, &n, &d);
        ld->intern[intern_slot(v, ld, d, p, n)] = (uint32_t)s + 1;
    }
    return AG_OK;
}

/* Symbol of a merge half (stored form q): existing, or a new non-token symbol. */
static ag_status intern_add(ag_vocab *v, loader *ld, bool dec, const uint8_t *q, size_t qn, int32_t *out)
{
    uint32_t i = intern_slot(v, ld, dec, q, qn);
    if (ld->intern[i]) {
        *out = (int32_t)ld->intern[i] - 1;
        return AG_OK;
    }
    if (v->n_syms >= (1 << 29)) return ag_fail(AG_ERR_UNSUPPORTED, "tokenizer: more than 2^29 symbols");
    if (ld->x_count == ld->x_count_cap) {
        size_t cap = ld->x_count_cap ? ld->x_count_cap * 2 : 64;
        size_t *o = realloc(ld->x_off, cap * sizeof(*o));
        if (o) ld->x_off = o;
        size_t *n = o ? realloc(ld->x_n, cap * sizeof(*n)) : NULL;
        if (n) ld->x_n = n;
        uint8_t *d = n ? realloc(ld->x_dec, cap) : NULL;
        if (!d) return ag_fail(AG_ERR_NOMEM, "tokenizer: out of memory (symbols)");
        ld->x_dec = d;
        ld->x_count_cap = cap;
    }
    if (qn > ld->x_cap - ld->x_len) {
        size_t cap = ld->x_cap ? ld->x_cap : 1024;
        while (cap - ld->x_len < qn) cap *= 2;
        uint8_t *b = realloc(ld->x_blob, cap);
        if (!b) return ag_fail(AG_ERR_NOMEM, "tokenizer: out of memory (symbols)");
        ld->x_blob = b;
        ld->x_cap = cap;
    }
    if (qn) memcpy(ld->x_blob + ld->x_len, q, qn);
    ld->x_off[ld->x_count] = ld->x_len;
    ld->x_n[ld->x_count] = qn;
    ld->x_dec[ld->x_count] = dec;
    ld->x_count++;
    ld->x_len += qn;
    ld->intern[i] = (uint32_t)v->n_syms + 1;
    *out = v->n_syms++;
    if ((uint64_t)v->n_syms * 2 > (uint64_t)ld->mask + 1) return intern_grow(v, ld);
    return AG_OK;
}

/* ---- load: the find index ---- */

/* Token ids sorted by (hash of the stored text, id), given h[t] =
 * tok_hash32(t): three stable 11-bit counting passes over (hash, id) pairs
 * (pairs, so no pass gathers from a table; 2048 buckets stay in cache). */
static ag_status build_find(const ag_gguf *g, ag_vocab *v, const uint32_t *h)
{
    size_t n = (size_t)v->n_tokens;
    uint64_t *a = scratch_array(n, sizeof(*a)), *b = scratch_array(n, sizeof(*b));
    uint32_t cnt[2049];
    ag_status st = AG_OK;
    if (!a || !b || !packed_alloc(&v->find_ids, n, bits_for(n - 1))) {
        st = ag_fail(AG_ERR_NOMEM, "%s: out of memory (token index)", g->path);
        goto out;
    }
    for (size_t t = 0; t < n; t++) a[t] = (uint64_t)h[t] << 32 | t;
    for (int shift = 32; shift < 65; shift += 11) {
        memset(cnt, 0, sizeof(cnt));
        for (size_t k = 0; k < n; k++) cnt[((a[k] >> shift) & 0x7FF) + 1]++;
        for (size_t d = 0; d < 2048; d++) cnt[d + 1] += cnt[d];
        for (size_t k = 0; k < n; k++) b[cnt[(a[k] >> shift) & 0x7FF]++] = a[k];
        uint64_t *t = a;
        a = b;
        b = t;
    }
    for (size_t k = 0; k < n; k++) packed_set(&v->find_ids, k, (uint32_t)a[k]);
out:
    scratch_free(a);
    scratch_free(b);
    return st;
}

/* ---- load: tokens ---- */

static ag_status load_tokens(const ag_gguf *g, ag_vocab *v, loader *ld)
{
    const char *key = "tokenizer.ggml.tokens";
    const ag_gguf_kv *kv = find_kv(g, key);
    if (!kv) return ag_fail(AG_ERR_FORMAT, "%s: key 'tokenizer.ggml.tokens' not found", g->path);
    if (kv->type != AG_GGUF_ARRAY || kv->arr_type != AG_GGUF_STRING)
        return ag_fail(AG_ERR_FORMAT, "%s: key 'tokenizer.ggml.tokens' must be an array of strings", g->path);
    if (kv->n == 0) return ag_fail(AG_ERR_FORMAT, "%s: 'tokenizer.ggml.tokens' is empty", g->path);
    if (kv->n > (1u << 28))
        return ag_fail(AG_ERR_UNSUPPORTED, "%s: %llu tokens (limit %u)", g->path, (ull)kv->n, 1u << 28);
    v->n_tokens = (int32_t)kv->n;

    /* One pass: stored texts into a blob sized for the file's texts (the
     * stored form is never longer; the rest is given back below), each
     * interned, its hash kept for the find index. */
    if (kv->n_bytes < 8 * kv->n) return walk_ended(g, key, 0);
    uint64_t raw_total = kv->n_bytes - 8 * kv->n; /* the reader saw 8 + length bytes per entry */
    if (raw_total > UINT32_MAX)
        return ag_fail(AG_ERR_UNSUPPORTED, "%s: token texts hold %llu bytes (limit 4 GiB)", g->path, (ull)raw_total);
    v->info = malloc((size_t)v->n_tokens);
    v->blob = malloc((size_t)raw_total + 1);
    uint32_t *hv = scratch_array(kv->n, sizeof(*hv));
    uint32_t cap = pow2_at_least(2 * (uint64_t)v->n_tokens + 2);
    ld->intern = cap ? scratch_array(cap, sizeof(*ld->intern)) : NULL;
    ld->mask = cap - 1;
    if (!v->info || !v->blob || !hv || !ld->intern ||
        !packed_alloc(&v->text_off, (uint64_t)v->n_tokens + 1, bits_for(raw_total))) {
        scratch_free(hv);
        return ag_fail(AG_ERR_NOMEM, "%s: out of memory (token texts)", g->path);
    }
    memset(v->info, AG_TOK_NORMAL, (size_t)v->n_tokens);
    v->n_syms = v->n_tokens; /* symbols 0..n_tokens-1 are the tokens themselves */
    ag_gguf_str_cursor c = ag_gguf_arr_str_begin(kv);
    ag_str s;
    uint64_t raw_at = 0;
    uint32_t at = 0;
    for (int32_t t = 0; t < v->n_tokens; t++) {
        if (!ag_gguf_arr_str_next(&c, &s) || s.n > raw_total - raw_at) {
            scratch_free(hv);
            return walk_ended(g, key, (uint64_t)t);
        }
        if (s.n > AG_TOK_MAX_TEXT) {
            scratch_free(hv);
            return ag_fail(AG_ERR_FORMAT, "%s: token %d: text is %llu bytes (limit %d)", g->path, t, (ull)s.n,
                           AG_TOK_MAX_TEXT);
        }
        raw_at += s.n; /* at <= raw_at, so the stored text fits */
        bool dec;
        uint8_t *p = v->blob + at;
        size_t n = canon(v, (const uint8_t *)s.p, (size_t)s.n, p, &dec);
        at += (uint32_t)n;
        if (dec) v->info[t] |= AG_TOK_DEC;
        packed_set(&v->text_off, (size_t)t + 1, at);
        uint64_t h = ag_tok_mix(text_hash(dec, p, n));
        ld->intern[intern_slot_h(v, ld, h, dec, p, n)] = (uint32_t)t + 1; /* duplicates: the last id wins */
        hv[t] = (uint32_t)h;
    }
    uint8_t *shrunk = realloc(v->blob, (size_t)at + 1);
    if (shrunk) v->blob = shrunk;
    ag_gguf_release(g, kv); /* before the index's scratch: a lower peak */
    ag_status st = build_find(g, v, hv);
    scratch_free(hv);
    if (st) return st;

    const ag_gguf_kv *tt = find_kv(g, "tokenizer.ggml.token_type");
    if (tt) {
        if (tt->type != AG_GGUF_ARRAY || !is_int_type(tt->arr_type))
            return ag_fail(AG_ERR_FORMAT, "%s: key 'tokenizer.ggml.token_type' must be an array of integers",
                           g->path);
        if (tt->n != kv->n)
            return ag_fail(AG_ERR_FORMAT, "%s: 'tokenizer.ggml.token_type' has %llu entries, tokens has %d",
                           g->path, (ull)tt->n, v->n_tokens);
        for (int32_t t = 0; t < v->n_tokens; t++) {
            int64_t x = ag_gguf_arr_i64(tt, (uint64_t)t);
            if (x < AG_TOK_UNDEFINED || x > AG_TOK_BYTE)
                return ag_fail(AG_ERR_FORMAT, "%s: token %d: token_type %lld is not in 0..6", g->path, t,
                               (long long)x);
            v->info[t] = (uint8_t)((v->info[t] & ~AG_TOK_TYPE_MASK) | x);
        }
    }

    return AG_OK;
}

/* ---- load: merges ---- */

typedef struct merge_rec {
    int32_t left, right, result;
    uint32_t rank;
} merge_rec;

/* Reads the merges (in rank order) into rec[]: symbols of both halves
 * (interning new ones) and of the merged text. */
static ag_status read_merges(const ag_gguf *g, ag_vocab *v, loader *ld, const ag_gguf_kv *kv, merge_rec *rec)
{
    ag_gguf_str_cursor c = ag_gguf_arr_str_begin(kv);
    ag_str m;
    bool unresolved = false;
    for (int32_t r = 0; r < v->n_merges; r++) {
        if (!ag_gguf_arr_str_next(&c, &m)) return walk_ended(g, "tokenizer.ggml.merges", (uint64_t)r);
        const char *sp = m.n > 1 ? memchr(m.p + 1, ' ', (size_t)m.n - 1) : NULL;
        if (!sp || sp + 1 == m.p + m.n) {
            char buf[80];
            return ag_fail(AG_ERR_FORMAT, "%s: merge %d ('%s') is not of the form 'A B'", g->path, r,
                           shown(m, buf, sizeof(buf)));
        }
        size_t na = (size_t)(sp - m.p), nb = (size_t)m.n - na - 1;
        if ((uint64_t)m.n * 2 > ld->buf_cap) {
            if (m.n > SIZE_MAX / 4) return ag_fail(AG_ERR_NOMEM, "%s: merge %d is too long", g->path, r);
            free(ld->buf);
            ld->buf_cap = (size_t)m.n * 2;
            ld->buf = malloc(ld->buf_cap);
            if (!ld->buf) return ag_fail(AG_ERR_NOMEM, "%s: out of memory (merges)", g->path);
        }
        uint8_t *raw = ld->buf, *q = ld->buf + m.n; /* raw "A" + "B", then one stored form */
        bool dec;
        size_t qn = canon(v, (const uint8_t *)m.p, na, q, &dec);
        rec[r].rank = (uint32_t)r;
        ag_status st = intern_add(v, ld, dec, q, qn, &rec[r].left);
        if (st) return st;
        qn = canon(v, (const uint8_t *)sp + 1, nb, q, &dec);
        if ((st = intern_add(v, ld, dec, q, qn, &rec[r].right))) return st;
        /* The result: a token or a merge half; otherwise it can never merge
         * again nor be emitted whole, so it needs no identity (-1). */
        memcpy(raw, m.p, na);
        memcpy(raw + na, sp + 1, nb);
        qn = canon(v, raw, na + nb, q, &dec);
        rec[r].result = intern_find(v, ld, dec, q, qn);
        if (rec[r].result < 0) unresolved = true;
    }
    if (!unresolved || ld->x_count == 0) return AG_OK;
    /* Merge results interned after their merge was read ("A B" listed before
     * "AB" became a merge half) got -1 above; resolve them now. */
    c = ag_gguf_arr_str_begin(kv);
    for (int32_t r = 0; r < v->n_merges; r++) {
        if (!ag_gguf_arr_str_next(&c, &m) || m.n < 3 || (uint64_t)m.n * 2 > ld->buf_cap)
            return walk_ended(g, "tokenizer.ggml.merges", (uint64_t)r);
        if (rec[r].result >= 0) continue;
        const char *sp = memchr(m.p + 1, ' ', (size_t)m.n - 1);
        if (!sp) return walk_ended(g, "tokenizer.ggml.merges", (uint64_t)r);
        size_t na = (size_t)(sp - m.p), nb = (size_t)m.n - na - 1;
        uint8_t *raw = ld->buf, *q = ld->buf + m.n;
        bool dec;
        memcpy(raw, m.p, na);
        memcpy(raw + na, sp + 1, nb);
        size_t qn = canon(v, raw, na + nb, q, &dec);
        rec[r].result = intern_find(v, ld, dec, q, qn);
    }
    return AG_OK;
}

/* Stable counting sort of records by key(x) in [0, n_keys), x being a
 * const merge_rec *; cnt has n_keys + 1 entries. Records move (16 bytes)
 * rather than indices, so no pass gathers from a table in random order. */
#define SORT_RECS(in, out, n, cnt, n_keys, key)                                  \
    do {                                                                         \
        memset(cnt, 0, ((size_t)(n_keys) + 1) * sizeof(*(cnt)));                \
        for (uint32_t k_ = 0; k_ < (n); k_++) {                                  \
            const merge_rec *x = &(in)[k_];                                      \
            (cnt)[(key) + 1]++;                                                  \
        }                                                                        \
        for (uint32_t k_ = 0; k_ < (n_keys); k_++) (cnt)[k_ + 1] += (cnt)[k_];   \
        for (uint32_t k_ = 0; k_ < (n); k_++) {                                  \
            const merge_rec *x = &(in)[k_];                                      \
            (out)[(cnt)[key]++] = *x;                                            \
        }                                                                        \
    } while (0)

static ag_status load_merges(const ag_gguf *g, ag_vocab *v, loader *ld)
{
    const ag_gguf_kv *kv = find_kv(g, "tokenizer.ggml.merges");
    if (!kv) return ag_fail(AG_ERR_FORMAT, "%s: key 'tokenizer.ggml.merges' not found (required for gpt2)", g->path);
    if (kv->type != AG_GGUF_ARRAY || kv->arr_type != AG_GGUF_STRING)
        return ag_fail(AG_ERR_FORMAT, "%s: key 'tokenizer.ggml.merges' must be an array of strings", g->path);
    if (kv->n > (1u << 28))
        return ag_fail(AG_ERR_UNSUPPORTED, "%s: %llu merges (limit %u)", g->path, (ull)kv->n, 1u << 28);
    v->n_merges = (int32_t)kv->n;
    uint32_t n = (uint32_t)kv->n;

    merge_rec *rec = scratch_array((uint64_t)n + 1, sizeof(*rec));
    ag_status st = rec ? read_merges(g, v, ld, kv, rec) : ag_fail(AG_ERR_NOMEM, "%s: out of memory (merges)", g->path);
    if (st) {
        scratch_free(rec);
        return st;
    }
    uint32_t n_syms = (uint32_t)v->n_syms;
    merge_rec *tmp = scratch_array((uint64_t)n + 1, sizeof(*tmp));
    uint32_t *cnt = scratch_array((uint64_t)n_syms + 2, sizeof(*cnt)), *bcnt = NULL;
    if (!tmp || !cnt) {
        st = ag_fail(AG_ERR_NOMEM, "%s: out of memory (merges)", g->path);
        goto out;
    }
    /* Stable sorts by right, then by left, of the merges in rank order give
     * (left, right, rank) order: the first of equal pairs has the lowest
     * rank and is the one kept. */
    SORT_RECS(rec, tmp, n, cnt, n_syms, (uint32_t)x->right);
    SORT_RECS(tmp, rec, n, cnt, n_syms, (uint32_t)x->left);
    uint32_t kept = 0;
    bool implicit = true; /* every result is rank + base: store none */
    v->result_base = 0;
    memset(cnt, 0, ((size_t)n_syms + 2) * sizeof(*cnt));
    for (uint32_t k = 0; k < n; k++) {
        const merge_rec *x = &rec[k];
        if (kept && x->left == rec[kept - 1].left && x->right == rec[kept - 1].right) continue;
        if (x->rank == 0) v->result_base = x->result; /* rank 0 is always kept */
        cnt[x->left + 1]++;
        rec[kept++] = *x;
    }
    for (uint32_t k = 0; k < kept; k++)
        if (rec[k].result < 0 || rec[k].result != (int64_t)rec[k].rank + v->result_base) implicit = false;
    v->n_merges = (int32_t)kept;
    uint32_t max_group = 0;
    for (uint32_t s = 0; s < n_syms; s++) {
        if (cnt[s + 1] > max_group) max_group = cnt[s + 1];
        cnt[s + 1] += cnt[s]; /* now cnt[s] is where the merges of left symbol s start */
    }
    /* Within a group, order by bucket (merge_bucket in tok_internal.h);
     * buckets of consecutive groups never interleave, so one stable sort
     * by the global bucket does it. */
    uint32_t n_buckets = kept / 2 + 2;
    bcnt = scratch_array((uint64_t)n_buckets + 1, sizeof(*bcnt));
    if (!bcnt || !packed_alloc(&v->merge_first, (uint64_t)n_syms + 1, bits_for(kept)) ||
        !packed_alloc(&v->merge_bucket, n_buckets, bits_for(max_group)) ||
        !packed_alloc(&v->merge_right, kept, bits_for(n_syms - 1)) ||
        !packed_alloc(&v->merge_rank, kept, bits_for(n ? n - 1 : 0)) ||
        !packed_alloc(&v->merge_result, kept, implicit ? 0 : bits_for(n_syms))) {
        st = ag_fail(AG_ERR_NOMEM, "%s: out of memory (merges)", g->path);
        goto out;
    }
#define GROUP_SIZE(x) (cnt[(x)->left + 1] - cnt[(x)->left])
    SORT_RECS(rec, tmp, kept, bcnt, n_buckets,
              ag_merge_bucket_base(cnt[x->left]) +
                  (GROUP_SIZE(x) < 8 ? 0 : ag_merge_bucket((uint32_t)x->right, ag_merge_bucket_bits(GROUP_SIZE(x)))));
#undef GROUP_SIZE
    for (uint32_t s = 0; s < n_syms; s++) {
        uint32_t f = cnt[s], gn = cnt[s + 1] - f;
        packed_set(&v->merge_first, s + 1, cnt[s + 1]);
        if (gn < 8) continue;
        /* start of buckets 1 .. 2^k - 1 (bucket 0 starts at 0) */
        uint32_t k = ag_merge_bucket_bits(gn), base = ag_merge_bucket_base(f), cur = 0;
        for (uint32_t e = 0; e < gn; e++)
            for (uint32_t j = ag_merge_bucket((uint32_t)tmp[f + e].right, k); cur < j; cur++)
                packed_set(&v->merge_bucket, base + cur, e);
        for (; cur + 1 < (1u << k); cur++) packed_set(&v->merge_bucket, base + cur, gn);
    }
    for (uint32_t k = 0; k < kept; k++) {
        packed_set(&v->merge_right, k, (uint32_t)tmp[k].right);
        packed_set(&v->merge_rank, k, tmp[k].rank);
        if (!implicit) packed_set(&v->merge_result, k, (uint32_t)(tmp[k].result + 1));
    }
out:
    scratch_free(rec);
    scratch_free(tmp);
    scratch_free(cnt);
    scratch_free(bcnt);
    return st;
}

/* ---- load ---- */

static void loader_free(loader *ld)
{
    scratch_free(ld->intern);
    free(ld->x_blob);
    free(ld->x_off);
    free(ld->x_n);
    free(ld->x_dec);
    free(ld->buf);
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
    for (unsigned c = 0; c < 0x144; c++) v->cp_byte[c] = -1;
    for (unsigned b = 0; b < 256; b++) {
        v->byte_cp[b] = (uint16_t)byte_to_cp(b);
        v->cp_byte[v->byte_cp[b]] = (int16_t)b;
    }
    loader ld = {0};
    ag_status st = load_tokens(g, v, &ld);
    /* The vocab keeps no pointer into the big arrays: once read, their
     * pages go back (also on failure; a later read maps them again). */
    ag_gguf_release(g, find_kv(g, "tokenizer.ggml.tokens"));
    ag_gguf_release(g, find_kv(g, "tokenizer.ggml.token_type"));
    if (!st) st = read_special_id(g, v, "tokenizer.ggml.eos_token_id", &v->eos);
    if (!st) st = read_special_id(g, v, "tokenizer.ggml.bos_token_id", NULL);
    if (!st) st = read_special_id(g, v, "tokenizer.ggml.padding_token_id", NULL);
    if (!st) st = read_special_id(g, v, "tokenizer.ggml.unknown_token_id", NULL);
    if (!st) st = read_special_id(g, v, "tokenizer.ggml.seperator_token_id", NULL);
    if (!st) st = load_merges(g, v, &ld);
    ag_gguf_release(g, find_kv(g, "tokenizer.ggml.merges"));
    if (st) goto fail;

    for (unsigned b = 0; b < 256; b++) {
        uint8_t c = (uint8_t)b;
        v->byte_sym[b] = intern_find(v, &ld, true, &c, 1);
    }
    static const char *const eog_texts[] = {"<|im_end|>", "<|endoftext|>", "<|fim_pad|>", "<|repo_name|>",
                                            "<|file_sep|>"};
    for (size_t i = 0; i < sizeof(eog_texts) / sizeof(eog_texts[0]); i++) {
        uint8_t q[16];
        bool dec;
        size_t qn = canon(v, (const uint8_t *)eog_texts[i], strlen(eog_texts[i]), q, &dec);
        int32_t t = intern_find(v, &ld, dec, q, qn);
        if (t < 0 || t >= v->n_tokens) continue;
        v->info[t] = (uint8_t)((v->info[t] & ~AG_TOK_TYPE_MASK) | AG_TOK_CONTROL | AG_TOK_EOG);
    }
    if (v->eos >= 0) v->info[v->eos] |= AG_TOK_EOG;
    loader_free(&ld);
    ld = (loader){0};

    st = build_specials(v, g->path);
    if (st) goto fail;

    for (int32_t t = 0; t < v->n_tokens; t++) {
        size_t n = piece(v, t, true, NULL);
        if (n > v->max_piece) v->max_piece = n;
    }
    *out = v;
    return AG_OK;
fail:
    loader_free(&ld);
    ag_vocab_free(v);
    return st;
}
