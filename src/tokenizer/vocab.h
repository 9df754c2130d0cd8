/* vocab.h: the tokenizer's vocabulary as loaded from GGUF tokenizer.* keys.
 *
 * Byte-level BPE (tokenizer.ggml.model = "gpt2") with the pre-tokenizers named
 * by tokenizer.ggml.pre ("qwen35", "qwen2"; others rejected clearly). The
 * public calls ag_tokenize / ag_token_to_piece / ag_detok_* (airgap.h) are
 * implemented on top of this through ag_model_vocab(). */
#ifndef AG_TOKENIZER_VOCAB_H
#define AG_TOKENIZER_VOCAB_H

#include "airgap.h"
#include "gguf/gguf.h"

typedef struct ag_vocab ag_vocab;

/* Builds the vocabulary from g's tokenizer.* keys (the strings point into g,
 * which must outlive the vocab). */
ag_status ag_vocab_load(const ag_gguf *g, ag_vocab **out);
void ag_vocab_free(ag_vocab *v);

int32_t ag_vocab_n_tokens(const ag_vocab *v);
ag_status ag_vocab_tokenize(const ag_vocab *v, const char *text, size_t len, bool parse_special,
                            int32_t *tokens, size_t cap, size_t *n_out);
/* Raw bytes of a token after GPT-2 byte decoding (see ag_token_to_piece). */
ag_status ag_vocab_piece(const ag_vocab *v, int32_t token, bool special, char *buf, size_t cap,
                         size_t *n_out);
bool ag_vocab_is_eog(const ag_vocab *v, int32_t token);
bool ag_vocab_is_control(const ag_vocab *v, int32_t token);
int32_t ag_vocab_eos(const ag_vocab *v);
int32_t ag_vocab_find(const ag_vocab *v, const char *text); /* exact token text, or -1 */
/* Longest piece in bytes (for sizing detokenizer buffers). */
size_t ag_vocab_max_piece(const ag_vocab *v);

#endif
