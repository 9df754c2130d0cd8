/* unicode.h: the Unicode facts the pre-tokenizers need, and UTF-8 decoding.
 *
 * Flags per code point come from the generated run table in unicode_data.c
 * (scripts/gen_unicode.py): letter \p{L}, mark \p{M}, number \p{N}, and
 * whitespace \s (the White_Space property, as llama.cpp defines it). A code
 * point with none of them is what the regexes call [^\s\p{L}\p{M}\p{N}]:
 * punctuation, symbols, controls, unassigned, surrogates and anything above
 * U+10FFFF all land there, exactly like llama.cpp's flag table.
 *
 * UTF-8 decoding mirrors llama.cpp's unicode_cpt_from_utf8: a lead byte and
 * the right number of continuation bytes decode (overlong forms and
 * surrogates included: they only affect classification, never the bytes);
 * anything else is one invalid byte, classified as U+FFFD. Callers keep the
 * original bytes, so invalid input round-trips. Rejected: a strict decoder
 * (would split pieces differently from llama.cpp on lenient-valid input). */
#ifndef AG_TOKENIZER_UNICODE_H
#define AG_TOKENIZER_UNICODE_H

#include <stddef.h>
#include <stdint.h>

enum {
    AG_UNI_LETTER = 1, /* \p{L} */
    AG_UNI_MARK = 2,   /* \p{M} */
    AG_UNI_NUMBER = 4, /* \p{N} */
    AG_UNI_SPACE = 8,  /* \s (White_Space) */
};

extern const char ag_uni_version[];
extern const uint8_t ag_uni_ascii[128];
extern const uint32_t ag_uni_n_runs;
extern const uint32_t ag_uni_run_start[];
extern const uint8_t ag_uni_run_flags[];

/* Flags of code point cp (0 for "other"). */
static inline unsigned ag_uni_flags(uint32_t cp)
{
    if (cp < 128) return ag_uni_ascii[cp];
    if (cp >= 0x110000) return 0;
    uint32_t lo = 0, hi = ag_uni_n_runs; /* find the last run with start <= cp */
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (ag_uni_run_start[mid] <= cp) lo = mid;
        else hi = mid;
    }
    return ag_uni_run_flags[lo];
}

/* Decodes one code point from s[0..n) (n >= 1); returns its byte length
 * (1..4) and stores the code point, or U+FFFD with length 1 for an invalid
 * byte. Never reads past n. */
static inline size_t ag_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp)
{
    uint8_t c = s[0];
    if (c < 0x80) { *cp = c; return 1; }
    size_t len = c >= 0xF8 ? 0 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
    if (len == 0 || len > n) { *cp = 0xFFFD; return 1; }
    uint32_t v = c & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) { *cp = 0xFFFD; return 1; }
        v = (v << 6) | (s[i] & 0x3F);
    }
    *cp = v;
    return len;
}

#endif
