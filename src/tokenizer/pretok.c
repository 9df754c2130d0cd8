/* pretok.c: the qwen2 and qwen35 pre-tokenizers as hand-written scanners.
 *
 * Stage 2 of 5 (tokenize). The pieces are what these regexes find (spec 5.2),
 * alternatives tried in order at each position, each greedy:
 *
 *   qwen35: (?i:'s|'t|'re|'ve|'m|'ll|'d) | [^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+ | \p{N}
 *           | ?[^\s\p{L}\p{M}\p{N}]+[\r\n]* | \s*[\r\n]+ | \s+(?!\S) | \s+
 *   qwen2:  the same with \p{L}+ for the letter run and [^\s\p{L}\p{N}] for the
 *           punctuation run (marks are punctuation there).
 *
 * The scanner follows llama.cpp's unicode_regex_split_custom_qwen2/_qwen35
 * decision for decision (that is what the fixtures were made with), e.g.
 * "\s+(?!\S)" becomes "a whitespace run of 2+ followed by more text gives
 * all but its last character". It works on bytes with an on-the-fly UTF-8
 * decoder, looking ahead at most one code point past a run, so it needs no
 * memory and never reads past n. Invalid bytes classify as U+FFFD
 * (punctuation class). Rejected: a regex engine (no dependency allowed, and
 * backtracking engines are slow on long whitespace runs); decoding the whole
 * text into a code point array first (memory proportional to the input). */
#include "tokenizer/tok_internal.h"

#include "tokenizer/unicode.h"

enum { OUT = 0x80 }; /* flag value past the end of the fragment: no class */

typedef struct cpt {
    uint32_t cp;
    unsigned flags;
    size_t len; /* 0 past the end */
} cpt;

static inline cpt at(const uint8_t *s, size_t n, size_t i)
{
    cpt c = {0xFFFFFFFFu, OUT, 0};
    if (i < n) {
        c.len = ag_utf8_decode(s + i, n - i, &c.cp);
        c.flags = ag_uni_flags(c.cp);
    }
    return c;
}

static inline uint32_t ascii_lower(uint32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

size_t ag_pretok_next(ag_pretok pre, const uint8_t *s, size_t n, size_t pos)
{
    const unsigned word = AG_UNI_LETTER | (pre == AG_PRETOK_QWEN35 ? AG_UNI_MARK : 0u);
    const unsigned not_punct = AG_UNI_SPACE | AG_UNI_NUMBER | word;
    cpt c = at(s, n, pos);

    /* (?i:'s|'t|'re|'ve|'m|'ll|'d): ASCII case folding is exact here (checked
     * by gen_unicode.py: no other code point lowercases to these letters). */
    if (c.cp == '\'' && pos + 1 < n) {
        cpt c1 = at(s, n, pos + 1);
        uint32_t l1 = ascii_lower(c1.cp);
        if (l1 == 's' || l1 == 't' || l1 == 'm' || l1 == 'd') return pos + 1 + c1.len;
        if (pos + 1 + c1.len < n) {
            cpt c2 = at(s, n, pos + 1 + c1.len);
            uint32_t l2 = ascii_lower(c2.cp);
            if ((l1 == 'r' && l2 == 'e') || (l1 == 'v' && l2 == 'e') || (l1 == 'l' && l2 == 'l'))
                return pos + 1 + c1.len + c2.len;
        }
    }

    /* [^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+  (qwen2: \p{L}+) */
    if (!(c.cp == '\r' || c.cp == '\n' || (c.flags & AG_UNI_NUMBER))) {
        if ((c.flags & word) || (at(s, n, pos + c.len).flags & word & ~(unsigned)OUT)) {
            size_t p = pos + c.len;
            for (;;) {
                cpt d = at(s, n, p);
                if (d.flags == OUT || !(d.flags & word)) break;
                p += d.len;
            }
            return p;
        }
    }

    /* \p{N}: one digit per piece */
    if (c.flags & AG_UNI_NUMBER) return pos + c.len;

    /*  ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*  (qwen2: [^\s\p{L}\p{N}]) */
    cpt c2 = c.cp == ' ' ? at(s, n, pos + c.len) : c;
    if (c2.flags == OUT || !(c2.flags & not_punct)) {
        size_t p = pos + (c.cp == ' ' ? c.len : 0);
        for (;;) {
            cpt d = at(s, n, p);
            if (d.flags == OUT || (d.flags & not_punct)) break;
            p += d.len;
        }
        while (p < n && (s[p] == '\r' || s[p] == '\n')) p++;
        return p;
    }

    /* \s*[\r\n]+ | \s+(?!\S) | \s+ */
    size_t p = pos, count = 0, last_start = pos, rn_end = 0;
    for (;;) {
        cpt d = at(s, n, p);
        if (d.flags == OUT || !(d.flags & AG_UNI_SPACE)) break;
        if (d.cp == '\r' || d.cp == '\n') rn_end = p + d.len;
        last_start = p;
        p += d.len;
        count++;
    }
    if (rn_end) return rn_end;
    if (count > 1 && p < n) return last_start;
    if (count > 0) return p;

    return pos + c.len; /* no alternative matched: one code point */
}
