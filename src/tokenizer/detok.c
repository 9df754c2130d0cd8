/* detok.c: streaming detokenizer (ag_detok_* in airgap.h).
 *
 * Stage 5 of 5 (detokenize). A token's bytes may end in the middle of a
 * UTF-8 sequence (byte-level BPE splits emoji and CJK characters across
 * tokens), so each push emits only complete, valid sequences and holds back
 * an incomplete tail (at most 3 bytes) for the next token. Bytes that can
 * never form a valid sequence become U+FFFD, one per maximal ill-formed
 * subpart (the Unicode / WHATWG convention): "E2 82 41" gives U+FFFD then
 * "A". flush() turns a held-back tail into one U+FFFD. So every chunk handed
 * out is valid UTF-8 on its own, and for valid text the concatenation is
 * exactly the original bytes.
 *
 * Validation is strict (no overlong forms, no surrogates, nothing above
 * U+10FFFF), unlike the tokenizer's lenient decoder: output must be safe to
 * hand to any UTF-8 consumer. A push never changes state when it fails
 * (buffer too small), so the caller can retry with a bigger buffer. */
#include "tokenizer/detok.h"

#include "core/status.h"
#include "tokenizer/tok_internal.h"

#include <stdlib.h>
#include <string.h>

struct ag_detok {
    const ag_vocab *v;
    bool special;
    uint8_t pend[4];
    size_t n_pend;
    uint8_t *in;    /* pending bytes + one piece */
    char *scratch;  /* sanitized output before it is copied to the caller */
    size_t max_piece;
};

static size_t put_fffd(char *out, size_t o)
{
    out[o] = (char)0xEF;
    out[o + 1] = (char)0xBF;
    out[o + 2] = (char)0xBD;
    return o + 3;
}

size_t ag_utf8_sanitize(const uint8_t *b, size_t n, bool final, char *out, size_t *used)
{
    size_t i = 0, o = 0;
    while (i < n) {
        uint8_t c = b[i];
        if (c < 0x80) {
            out[o++] = (char)c;
            i++;
            continue;
        }
        size_t need;
        uint8_t lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
        if (c >= 0xC2 && c <= 0xDF) need = 1;
        else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0) lo = 0xA0;      /* no overlong forms */
            else if (c == 0xED) hi = 0x9F; /* no surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0) lo = 0x90;
            else if (c == 0xF4) hi = 0x8F; /* nothing above U+10FFFF */
        } else {
            o = put_fffd(out, o); /* 80..C1, F5..FF never start a sequence */
            i++;
            continue;
        }
        size_t j = i + 1, k = 0;
        for (; k < need && j < n; k++, j++) {
            uint8_t x = b[j];
            if (x < (k == 0 ? lo : 0x80) || x > (k == 0 ? hi : 0xBF)) break;
        }
        if (k == need) {
            memcpy(out + o, b + i, need + 1);
            o += need + 1;
            i = j;
        } else if (j == n && !final) {
            break; /* a valid prefix cut by the end: keep it for later */
        } else {
            o = put_fffd(out, o); /* the maximal subpart b[i..j) */
            i = j;
        }
    }
    *used = i;
    return o;
}

ag_status ag_vocab_detok_create(const ag_vocab *v, bool special, ag_detok **out)
{
    if (!out) return ag_fail(AG_ERR_INVALID_ARG, "ag_detok_create: out is NULL");
    *out = NULL;
    if (!v) return ag_fail(AG_ERR_INVALID_ARG, "ag_detok_create: no vocabulary");
    ag_detok *d = calloc(1, sizeof(*d));
    if (!d) return ag_fail(AG_ERR_NOMEM, "ag_detok_create: out of memory");
    d->v = v;
    d->special = special;
    d->max_piece = ag_vocab_max_piece(v);
    d->in = malloc(d->max_piece + 4);
    d->scratch = malloc(3 * (d->max_piece + 4) + 1);
    if (!d->in || !d->scratch) {
        ag_detok_free(d);
        return ag_fail(AG_ERR_NOMEM, "ag_detok_create: out of memory");
    }
    *out = d;
    return AG_OK;
}

void ag_detok_free(ag_detok *d)
{
    if (!d) return;
    free(d->in);
    free(d->scratch);
    free(d);
}

size_t ag_detok_max_piece(const ag_detok *d)
{
    /* pending (<= 3) + one piece, every byte possibly U+FFFD, plus the NUL */
    return d ? 3 * (d->max_piece + 3) + 1 : 0;
}

/* Sanitizes d->in[0..n) and hands the result to the caller if it fits. */
static ag_status deliver(ag_detok *d, size_t n, bool final, char *out, size_t cap, size_t *n_out,
                         const char *what)
{
    size_t used;
    size_t len = ag_utf8_sanitize(d->in, n, final, d->scratch, &used);
    *n_out = len;
    if (len + 1 > cap) {
        if (cap) out[0] = 0;
        return ag_fail(AG_ERR_BUFFER_TOO_SMALL, "%s: %zu bytes of text need a buffer of %zu, got %zu", what, len,
                       len + 1, cap);
    }
    memcpy(out, d->scratch, len);
    out[len] = 0;
    d->n_pend = n - used; /* < 4: only an incomplete sequence is left over */
    memcpy(d->pend, d->in + used, d->n_pend);
    return AG_OK;
}

ag_status ag_detok_push(ag_detok *d, int32_t token, char *out, size_t cap, size_t *n_out)
{
    if (n_out) *n_out = 0;
    if (!d || !n_out || (cap && !out)) return ag_fail(AG_ERR_INVALID_ARG, "ag_detok_push: NULL argument");
    memcpy(d->in, d->pend, d->n_pend);
    size_t n;
    ag_status st = ag_vocab_piece(d->v, token, d->special, (char *)d->in + d->n_pend, d->max_piece, &n);
    if (st) {
        if (cap) out[0] = 0;
        return st == AG_ERR_BUFFER_TOO_SMALL ? ag_fail(AG_ERR_FORMAT, "ag_detok_push: piece longer than max") : st;
    }
    return deliver(d, d->n_pend + n, false, out, cap, n_out, "ag_detok_push");
}

ag_status ag_detok_flush(ag_detok *d, char *out, size_t cap, size_t *n_out)
{
    if (n_out) *n_out = 0;
    if (!d || !n_out || (cap && !out)) return ag_fail(AG_ERR_INVALID_ARG, "ag_detok_flush: NULL argument");
    memcpy(d->in, d->pend, d->n_pend);
    return deliver(d, d->n_pend, true, out, cap, n_out, "ag_detok_flush");
}
