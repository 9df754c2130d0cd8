/* tok_internal.h: what the tokenizer's files share (not for other modules).
 *
 * The vocabulary owns compact copies of what it needs and keeps no pointer
 * into the GGUF, so the file pages of tokenizer.ggml.tokens / merges can be
 * given back after load (ag_gguf_release). Memory for a 248k-token
 * vocabulary with 248k merges is 4.9 MB:
 *   - token texts in one blob, in their "stored form": a text made only of
 *     GPT-2 byte-alphabet characters (almost all of them) is kept decoded,
 *     one byte per character (AG_TOK_DEC; the encoded form is recovered
 *     exactly since the map is a bijection and UTF-8 is canonical); any
 *     other text is kept as it is. Offsets are a packed bit array;
 *   - merges as a CSR table over the left symbol: for each symbol, its
 *     merges (right symbol, rank, result) in small buckets by a hash of the
 *     right symbol. In real vocabularies merge r produces token r + 256;
 *     when every merge result is rank + a constant the result is not stored
 *     at all;
 *   - token ids sorted by a hash of their stored text, for ag_vocab_find;
 *   - a byte trie of the special tokens (CONTROL, USER_DEFINED, UNKNOWN) for
 *     the special-token split.
 * Symbols 0..n_tokens-1 are the tokens; symbols above are merge halves
 * whose text is not a token (rare; kept so BPE behaves exactly like
 * llama.cpp's string-keyed BPE; their texts are only needed during load).
 * A merge result that is neither gets symbol -1: it can never merge again.
 * Everything is immutable after ag_vocab_load: one vocab may be shared by
 * threads; scratch memory is per call. */
#ifndef AG_TOKENIZER_TOK_INTERNAL_H
#define AG_TOKENIZER_TOK_INTERNAL_H

#include "tokenizer/vocab.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* tokenizer.ggml.token_type values (llama.cpp's llama_token_type). */
enum {
    AG_TOK_UNDEFINED = 0,
    AG_TOK_NORMAL = 1,
    AG_TOK_UNKNOWN = 2,
    AG_TOK_CONTROL = 3,
    AG_TOK_USER_DEFINED = 4,
    AG_TOK_UNUSED = 5,
    AG_TOK_BYTE = 6,
};

typedef enum ag_pretok { AG_PRETOK_QWEN2, AG_PRETOK_QWEN35 } ag_pretok;

/* ag_vocab.info bits: the token type (after EOG fix-ups), end-of-generation,
 * and whether the stored text is the decoded form. */
enum { AG_TOK_TYPE_MASK = 7, AG_TOK_EOG = 8, AG_TOK_DEC = 16 };

/* Longest token text accepted from a file; real vocabularies stay under 300. */
#define AG_TOK_MAX_TEXT 65536

/* Unsigned integers of `width` bits (0..32) packed back to back, least
 * significant bit first; 8 bytes of padding after the last one so a read is
 * one unaligned 64-bit load. */
typedef struct ag_packed {
    uint8_t *bits;
    uint32_t width;
} ag_packed;

static inline uint32_t ag_packed_get(const ag_packed *a, size_t i)
{
    uint64_t bit = (uint64_t)i * a->width, w;
    memcpy(&w, a->bits + (bit >> 3), 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    return (uint32_t)((w >> (bit & 7)) & (((uint64_t)1 << a->width) - 1));
}

typedef struct ag_trie_slot { /* edge (node, byte) -> child; empty when child == 0 */
    uint32_t key;              /* node << 8 | byte */
    uint32_t child;
} ag_trie_slot;

struct ag_vocab {
    int32_t n_tokens;
    uint8_t *info;             /* n_tokens: type | AG_TOK_EOG | AG_TOK_DEC */
    uint8_t *blob;             /* stored texts of the tokens, back to back */
    ag_packed text_off;        /* n_tokens + 1 offsets into blob */
    ag_pretok pre;
    int32_t eos;               /* -1 if none */
    size_t max_piece;          /* longest piece in bytes, special rendering */

    /* merges, grouped by left symbol; a group of n >= 8 is split into 2^k
     * buckets of 2..3 merges on average by a hash of the right symbol */
    int32_t n_syms;            /* tokens + merge halves that are no token */
    int32_t n_merges;          /* distinct (left, right) pairs */
    ag_packed merge_first;     /* n_syms + 1: first merge of each left symbol */
    ag_packed merge_bucket;    /* group at f: starts of its buckets 1..2^k-1 (relative to f)
                                  at ag_merge_bucket_base(f) ...; bucket 0 starts at 0 */
    ag_packed merge_right;     /* n_merges right symbols */
    ag_packed merge_rank;      /* n_merges ranks (index in tokenizer.ggml.merges) */
    ag_packed merge_result;    /* n_merges results + 1 (0: none); unused if width 0: */
    int32_t result_base;       /* ... then result = rank + result_base */

    ag_packed find_ids;        /* n_tokens ids sorted by (hash of stored text, id) */

    int32_t byte_sym[256];     /* symbol of each byte's GPT-2 character, or -1 */
    int16_t cp_byte[0x144];    /* inverse GPT-2 map: code point -> byte, or -1 */
    uint16_t byte_cp[256];     /* the GPT-2 map: byte -> code point */

    /* special tokens: a trie; node_tok[node] is the token ending there or -1 */
    uint32_t n_nodes;
    int32_t *node_tok;
    ag_trie_slot *trie;
    uint32_t trie_mask;
    uint32_t *spec_rank;       /* order of the special split (len desc, id asc) -> token id */
    uint8_t first_any[32];     /* bitmap of first bytes of any special token */
    uint8_t first_user[32];    /* ... of always-matched ones (USER_DEFINED) */
};

/* Pre-tokenizer: end of the piece that starts at pos (pos < n), > pos. */
size_t ag_pretok_next(ag_pretok pre, const uint8_t *s, size_t n, size_t pos);

/* Trie child of node for byte b, or 0 (the root is node 0, never a child). */
uint32_t ag_vocab_trie_child(const ag_vocab *v, uint32_t node, uint8_t b);

/* Buckets of a merge group of n >= 8 entries: 2^k with 2^k <= n/2 < 2^(k+1),
 * so a bucket holds 2..3 merges on average. Their starts are stored from
 * index ceil(f/2) for the group starting at merge f: 2^k - 1 < n/2 slots,
 * never reaching the next group's. */
static inline uint32_t ag_merge_bucket_bits(uint32_t n)
{
#if defined(__GNUC__)
    return 31u - (uint32_t)__builtin_clz(n >> 1);
#else
    uint32_t k = 0;
    while ((n >> 1) >> (k + 1)) k++;
    return k;
#endif
}
static inline uint32_t ag_merge_bucket(uint32_t right, uint32_t k)
{
    return k ? (uint32_t)(right * 0x9E3779B1u) >> (32 - k) : 0; /* Fibonacci hashing */
}
static inline uint32_t ag_merge_bucket_base(uint32_t f) { return f / 2 + (f % 2); }

/* Merge of symbols (left, right): true with its rank and result symbol
 * (-1: the merged text is no symbol), or false if there is none. */
bool ag_vocab_merge_find(const ag_vocab *v, int32_t left, int32_t right, uint32_t *rank, int32_t *result);

/* Stable 64-bit hash of a byte string (FNV-1a; two parts hashed as one). */
static inline uint64_t ag_tok_hash(uint64_t h, const void *p, size_t n)
{
    const uint8_t *s = (const uint8_t *)p;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 0x100000001b3ULL;
    return h;
}
#define AG_TOK_HASH_INIT 0xcbf29ce484222325ULL

static inline uint64_t ag_tok_mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

#endif
