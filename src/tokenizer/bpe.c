/* bpe.c: text -> token ids (special-token split, pre-tokenizer, byte-level BPE).
 *
 * Stage 2 of 5 (tokenize). The pipeline of spec 5.2, as llama.cpp runs it:
 *
 * 1. Special-token split. llama.cpp takes the special tokens longest first
 *    and, for each, cuts every occurrence out of the text fragments still
 *    raw. We find all occurrences in one pass with a byte trie, sort them by
 *    (token order, position) and accept each one whose first and last bytes
 *    are not yet covered. That is the same result: when a token is processed,
 *    every covered span belongs to a token at least as long, so an occurrence
 *    overlaps one iff it covers its first or last byte. CONTROL (and UNKNOWN)
 *    tokens count only with parse_special; USER_DEFINED ones always.
 * 2. Each raw fragment is cut into pieces by the pre-tokenizer (pretok.c).
 * 3. Each piece: one symbol per byte (its GPT-2 character), then the
 *    classic merge loop: a binary heap of adjacent pairs keyed by (merge
 *    rank, left position); pop the best, skip it if either side changed,
 *    merge, push the two new neighbour pairs. O(n log n) per piece, so a
 *    100 KB piece is fine. Ties go to the leftmost pair, as in llama.cpp.
 * 4. A final symbol that is a token is emitted; otherwise (a merge result
 *    missing from the vocabulary) its bytes are emitted one by one.
 *
 * The BPE runs on the original bytes of the piece, so invalid UTF-8 is kept
 * byte for byte (llama.cpp would first replace each bad byte by U+FFFD's
 * three bytes); valid UTF-8 gives exactly llama.cpp's ids. */
#include "tokenizer/tok_internal.h"

#include "core/status.h"

#include <stdlib.h>
#include <string.h>

typedef struct sym {
    int32_t id;         /* symbol id (tok_internal.h), -1 if not mergeable */
    int32_t prev, next; /* neighbours, -1 at the ends */
    uint32_t start, len; /* bytes of the piece; len 0 once merged away */
} sym;

typedef struct pair {
    uint32_t rank;
    int32_t left, right;     /* symbol indices */
    int32_t left_id, right_id; /* their ids when pushed (to detect stale pairs) */
    int32_t result;            /* id of the merged symbol */
} pair;

typedef struct work {
    int32_t *out;
    size_t cap, n;
    sym *syms;
    size_t syms_cap;
    pair *heap;
    size_t heap_n, heap_cap;
} work;

static inline void emit(work *w, int32_t id)
{
    if (w->n < w->cap) w->out[w->n] = id;
    w->n++;
}

static inline bool pair_less(const pair *a, const pair *b)
{
    return a->rank != b->rank ? a->rank < b->rank : a->left < b->left;
}

static bool heap_push(work *w, pair p)
{
    if (w->heap_n == w->heap_cap) {
        size_t cap = w->heap_cap ? w->heap_cap * 2 : 64;
        pair *h = realloc(w->heap, cap * sizeof(*h));
        if (!h) return false;
        w->heap = h;
        w->heap_cap = cap;
    }
    size_t i = w->heap_n++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!pair_less(&p, &w->heap[up])) break;
        w->heap[i] = w->heap[up];
        i = up;
    }
    w->heap[i] = p;
    return true;
}

static pair heap_pop(work *w)
{
    pair top = w->heap[0], last = w->heap[--w->heap_n];
    size_t i = 0, n = w->heap_n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && pair_less(&w->heap[c + 1], &w->heap[c])) c++;
        if (!pair_less(&w->heap[c], &last)) break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (n) w->heap[i] = last;
    return top;
}

static bool push_pair(const ag_vocab *v, work *w, int32_t l, int32_t r)
{
    if (l < 0 || r < 0) return true;
    uint32_t rank;
    int32_t result;
    if (!ag_vocab_merge_find(v, w->syms[l].id, w->syms[r].id, &rank, &result)) return true;
    return heap_push(w, (pair){rank, l, r, w->syms[l].id, w->syms[r].id, result});
}

static void emit_symbol(const ag_vocab *v, work *w, const uint8_t *s, const sym *y)
{
    if (y->id >= 0 && y->id < v->n_tokens) {
        emit(w, y->id);
        return;
    }
    for (uint32_t k = 0; k < y->len; k++) {
        int32_t b = v->byte_sym[s[y->start + k]];
        if (b >= 0 && b < v->n_tokens) emit(w, b);
    }
}

static ag_status bpe_piece(const ag_vocab *v, work *w, const uint8_t *s, size_t n)
{
    if (n == 1) {
        sym y = {v->byte_sym[s[0]], -1, -1, 0, 1};
        emit_symbol(v, w, s, &y);
        return AG_OK;
    }
    if (n > w->syms_cap) {
        sym *t = realloc(w->syms, n * sizeof(*t));
        if (!t) return ag_fail(AG_ERR_NOMEM, "tokenizer: out of memory (piece of %zu bytes)", n);
        w->syms = t;
        w->syms_cap = n;
    }
    for (size_t i = 0; i < n; i++)
        w->syms[i] = (sym){v->byte_sym[s[i]], (int32_t)i - 1, i + 1 < n ? (int32_t)i + 1 : -1, (uint32_t)i, 1};
    w->heap_n = 0;
    for (size_t i = 0; i + 1 < n; i++)
        if (!push_pair(v, w, (int32_t)i, (int32_t)i + 1)) goto nomem;

    while (w->heap_n) {
        pair p = heap_pop(w);
        sym *l = &w->syms[p.left], *r = &w->syms[p.right];
        if (l->len == 0 || r->len == 0 || l->next != p.right || l->id != p.left_id || r->id != p.right_id)
            continue; /* stale: one side was merged since */
        l->id = p.result;
        l->len += r->len;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0) w->syms[r->next].prev = p.left;
        if (!push_pair(v, w, l->prev, p.left) || !push_pair(v, w, p.left, l->next)) goto nomem;
    }
    for (int32_t i = 0; i >= 0; i = w->syms[i].next) emit_symbol(v, w, s, &w->syms[i]);
    return AG_OK;
nomem:
    return ag_fail(AG_ERR_NOMEM, "tokenizer: out of memory (merge queue)");
}

static ag_status raw_fragment(const ag_vocab *v, work *w, const uint8_t *s, size_t n)
{
    for (size_t pos = 0; pos < n;) {
        size_t end = ag_pretok_next(v->pre, s, n, pos);
        ag_status st = bpe_piece(v, w, s + pos, end - pos);
        if (st) return st;
        pos = end;
    }
    return AG_OK;
}

/* ---- special-token split ---- */

typedef struct occ {
    uint32_t rank;  /* split order of the token */
    uint32_t pos, len;
} occ;

static int cmp_occ(const void *pa, const void *pb)
{
    const occ *a = pa, *b = pb;
    if (a->rank != b->rank) return a->rank < b->rank ? -1 : 1;
    return a->pos < b->pos ? -1 : a->pos > b->pos;
}

static int cmp_pos(const void *pa, const void *pb)
{
    const occ *a = pa, *b = pb;
    return a->pos < b->pos ? -1 : a->pos > b->pos;
}

/* Finds the accepted special-token spans of s (sorted by position). */
static ag_status find_specials(const ag_vocab *v, const uint8_t *s, size_t n, bool parse_special, occ **out,
                               size_t *n_out)
{
    const uint8_t *first = parse_special ? v->first_any : v->first_user;
    const int side = parse_special ? 0 : 1;
    occ *o = NULL;
    size_t no = 0, cap = 0;
    *out = NULL;
    *n_out = 0;
    for (size_t i = 0; i < n; i++) {
        if (!(first[s[i] >> 3] & (1u << (s[i] & 7)))) continue;
        uint32_t node = 0;
        for (size_t k = i; k < n; k++) {
            node = ag_vocab_trie_child(v, node, s[k]);
            if (!node) break;
            int32_t r = v->node_tok[2 * node + side];
            if (r < 0) continue;
            if (no == cap) {
                cap = cap ? cap * 2 : 16;
                occ *t = realloc(o, cap * sizeof(*t));
                if (!t) {
                    free(o);
                    return ag_fail(AG_ERR_NOMEM, "tokenizer: out of memory (special tokens)");
                }
                o = t;
            }
            o[no++] = (occ){(uint32_t)r, (uint32_t)i, (uint32_t)(k - i + 1)};
        }
    }
    if (!no) return AG_OK;
    qsort(o, no, sizeof(*o), cmp_occ);
    uint8_t *covered = calloc(n, 1);
    if (!covered) {
        free(o);
        return ag_fail(AG_ERR_NOMEM, "tokenizer: out of memory (special tokens)");
    }
    size_t na = 0;
    for (size_t j = 0; j < no; j++) {
        occ c = o[j];
        if (covered[c.pos] || covered[c.pos + c.len - 1]) continue;
        memset(covered + c.pos, 1, c.len);
        o[na++] = c;
    }
    free(covered);
    qsort(o, na, sizeof(*o), cmp_pos);
    *out = o;
    *n_out = na;
    return AG_OK;
}

ag_status ag_vocab_tokenize(const ag_vocab *v, const char *text, size_t len, bool parse_special,
                            int32_t *tokens, size_t cap, size_t *n_out)
{
    if (n_out) *n_out = 0;
    if (!v || !n_out || (len && !text) || (cap && !tokens))
        return ag_fail(AG_ERR_INVALID_ARG, "ag_tokenize: NULL argument");
    if (len > UINT32_MAX)
        return ag_fail(AG_ERR_INVALID_ARG, "ag_tokenize: text of %zu bytes is too long (limit 4 GiB)", len);
    const uint8_t *s = (const uint8_t *)text;
    work w = {.out = tokens, .cap = cap};
    occ *sp = NULL;
    size_t n_sp = 0;
    ag_status st = find_specials(v, s, len, parse_special, &sp, &n_sp);
    size_t pos = 0;
    for (size_t j = 0; !st && j <= n_sp; j++) {
        size_t end = j < n_sp ? sp[j].pos : len;
        st = raw_fragment(v, &w, s + pos, end - pos);
        if (!st && j < n_sp) {
            emit(&w, (int32_t)v->spec_rank[sp[j].rank]);
            pos = sp[j].pos + sp[j].len;
        }
    }
    free(sp);
    free(w.syms);
    free(w.heap);
    if (st) return st;
    *n_out = w.n;
    if (w.n > cap)
        return ag_fail(AG_ERR_BUFFER_TOO_SMALL, "ag_tokenize: %zu tokens do not fit in %zu", w.n, cap);
    return AG_OK;
}
