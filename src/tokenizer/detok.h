/* detok.h: the streaming detokenizer on a bare vocabulary (ag_detok_* in
 * airgap.h take a model; this is what they call, and what tests use). */
#ifndef AG_TOKENIZER_DETOK_H
#define AG_TOKENIZER_DETOK_H

#include "tokenizer/vocab.h"

ag_status ag_vocab_detok_create(const ag_vocab *v, bool special, ag_detok **out);

/* Appends to out the valid UTF-8 found in b[0..n): complete sequences are
 * copied, each maximal ill-formed subpart becomes U+FFFD (EF BF BD). An
 * incomplete sequence at the end is left unconsumed unless final (then it
 * becomes one U+FFFD). Returns the bytes written (at most 3*n); *used is how
 * many input bytes were consumed. */
size_t ag_utf8_sanitize(const uint8_t *b, size_t n, bool final, char *out, size_t *used);

#endif
