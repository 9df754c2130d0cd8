/* api.c: the public tokenizer calls of airgap.h, on top of the model's vocab.
 *
 * Stage 2 and 5 of 5 (tokenize, detokenize). Thin wrappers: each gets the
 * vocabulary with ag_model_vocab() (model/model.h) and calls the ag_vocab_*
 * function of the same meaning, so the tokenizer can be tested on a bare
 * vocab-only GGUF without building a model. A NULL model is
 * AG_ERR_INVALID_ARG (or false / -1 for the predicates and lookups). */
#include "airgap.h"

#include "core/status.h"
#include "model/model.h"
#include "tokenizer/detok.h"

static const ag_vocab *vocab_of(const ag_model *m) { return m ? ag_model_vocab(m) : NULL; }

ag_status ag_tokenize(const ag_model *m, const char *text, size_t len, bool parse_special, int32_t *tokens,
                      size_t cap, size_t *n_out)
{
    const ag_vocab *v = vocab_of(m);
    if (!v) {
        if (n_out) *n_out = 0;
        return ag_fail(AG_ERR_INVALID_ARG, "ag_tokenize: model is NULL or has no vocabulary");
    }
    return ag_vocab_tokenize(v, text, len, parse_special, tokens, cap, n_out);
}

ag_status ag_token_to_piece(const ag_model *m, int32_t token, bool special, char *buf, size_t cap, size_t *n_out)
{
    const ag_vocab *v = vocab_of(m);
    if (!v) {
        if (n_out) *n_out = 0;
        return ag_fail(AG_ERR_INVALID_ARG, "ag_token_to_piece: model is NULL or has no vocabulary");
    }
    return ag_vocab_piece(v, token, special, buf, cap, n_out);
}

bool ag_token_is_eog(const ag_model *m, int32_t token) { return ag_vocab_is_eog(vocab_of(m), token); }

bool ag_token_is_control(const ag_model *m, int32_t token) { return ag_vocab_is_control(vocab_of(m), token); }

int32_t ag_token_eos(const ag_model *m) { return ag_vocab_eos(vocab_of(m)); }

int32_t ag_token_find(const ag_model *m, const char *s) { return ag_vocab_find(vocab_of(m), s); }

ag_status ag_detok_create(const ag_model *m, bool special, ag_detok **out)
{
    const ag_vocab *v = vocab_of(m);
    if (!v) {
        if (out) *out = NULL;
        return ag_fail(AG_ERR_INVALID_ARG, "ag_detok_create: model is NULL or has no vocabulary");
    }
    return ag_vocab_detok_create(v, special, out);
}
