/* tok_internal.h: what the tokenizer's files share (not for other modules).
 *
 * The vocabulary keeps token texts as pointers into the GGUF (no copies) and
 * builds three lookup structures at load:
 *   - an interning table, text -> symbol id. Symbols 0..n_tokens-1 are the
 *     tokens; symbols above are merge halves whose text is not a token (rare;
 *     kept so BPE behaves exactly like llama.cpp's string-keyed BPE). A merge
 *     result that is neither gets symbol -1: it can never merge again;
 *   - a merge table, (left symbol, right symbol) -> (rank, result symbol), so
 *     BPE compares integers only;
 *   - a byte trie of the special tokens (CONTROL, USER_DEFINED, UNKNOWN) for
 *     the special-token split.
 * Everything is immutable after ag_vocab_load: one vocab may be shared by
 * threads; scratch memory is per call. */
#ifndef AG_TOKENIZER_TOK_INTERNAL_H
#define AG_TOKENIZER_TOK_INTERNAL_H

#include "tokenizer/vocab.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

enum { AG_TOK_EOG = 1 }; /* ag_vocab.flags bits */

/* Longest token text accepted from a file; real vocabularies stay under 300. */
#define AG_TOK_MAX_TEXT 65536

typedef struct ag_merge_slot { /* empty when left < 0 */
    int32_t left, right, result;
    uint32_t rank;
} ag_merge_slot;

typedef struct ag_trie_slot { /* edge (node, byte) -> child; empty when child == 0 */
    uint32_t key;              /* node << 8 | byte */
    uint32_t child;
} ag_trie_slot;

struct ag_vocab {
    int32_t n_tokens;
    const ag_str *text;        /* n_tokens texts (inside the GGUF) */
    uint8_t *type;             /* n_tokens AG_TOK_* (after EOG fix-ups) */
    uint8_t *flags;            /* n_tokens AG_TOK_EOG ... */
    ag_pretok pre;
    int32_t eos;               /* -1 if none */
    size_t max_piece;          /* longest piece in bytes, special rendering */

    /* symbols: texts of the tokens, then of the extra merge strings */
    int32_t n_syms;
    ag_str *sym_text;          /* texts of symbols n_tokens.. (merge halves, in the GGUF) */
    uint32_t *intern;          /* open addressing: 0 empty, else symbol + 1 */
    uint32_t intern_mask;

    ag_merge_slot *merges;     /* open addressing over (left, right) */
    uint32_t merge_mask;
    int32_t n_merges;

    int32_t byte_sym[256];     /* symbol of each byte's GPT-2 character, or -1 */
    int16_t cp_byte[0x144];    /* inverse GPT-2 map: code point -> byte, or -1 */

    /* special tokens: a trie; node_tok[node] is the token ending there or -1 */
    uint32_t n_nodes;
    int32_t *node_tok;
    ag_trie_slot *trie;
    uint32_t trie_mask;
    uint32_t *spec_rank;       /* n_tokens: order of the special split (len desc, id asc) */
    uint8_t first_any[32];     /* bitmap of first bytes of any special token */
    uint8_t first_user[32];    /* ... of always-matched ones (USER_DEFINED) */
};

/* Pre-tokenizer: end of the piece that starts at pos (pos < n), > pos. */
size_t ag_pretok_next(ag_pretok pre, const uint8_t *s, size_t n, size_t pos);

/* Trie child of node for byte b, or 0 (the root is node 0, never a child). */
uint32_t ag_vocab_trie_child(const ag_vocab *v, uint32_t node, uint8_t b);

/* Symbol id of a text, or -1. */
int32_t ag_vocab_intern_find(const ag_vocab *v, const char *p, size_t n);

/* Merge of (left, right): its slot or NULL. */
const ag_merge_slot *ag_vocab_merge_find(const ag_vocab *v, int32_t left, int32_t right);

/* Per-token piece (see ag_vocab_piece) without the argument checks: pointer
 * to the raw text and whether it must go through the GPT-2 byte decoder. */
bool ag_vocab_piece_src(const ag_vocab *v, int32_t token, bool special, ag_str *src, bool *decode);

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
