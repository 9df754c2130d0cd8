/* vocab.h: the tokenizer's vocabulary as loaded from GGUF tokenizer.* keys.
 *
 * Byte-level BPE (tokenizer.ggml.model = "gpt2") with the pre-tokenizers named
 * by tokenizer.ggml.pre ("qwen35", "qwen2"; others rejected clearly; a file
 * without the key is read as "qwen2"). Decisions and validation rules are
 * listed at the top of vocab.c; the pipeline is in bpe.c. The public calls ag_tokenize / ag_token_to_piece / ag_detok_* (airgap.h) are
 * implemented on top of this through ag_model_vocab(). */
#ifndef AG_TOKENIZER_VOCAB_H
#define AG_TOKENIZER_VOCAB_H

#include "airgap.h"
#include "gguf/gguf.h"

typedef struct ag_vocab ag_vocab;

/* Builds the vocabulary from g's tokenizer.* keys. The vocab keeps its own
 * compact copies (g may be closed before it is freed) and, for a mapped
 * file, hands the pages of the big tokenizer arrays back to the OS
 * (ag_gguf_release). AG_ERR_UNSUPPORTED for another tokenizer model or
 * pre-tokenizer, AG_ERR_FORMAT for malformed keys, AG_ERR_NOMEM. */
ag_status ag_vocab_load(const ag_gguf *g, ag_vocab **out);
void ag_vocab_free(ag_vocab *v);

int32_t ag_vocab_n_tokens(const ag_vocab *v);
ag_status ag_vocab_tokenize(const ag_vocab *v, const char *text, size_t len, bool parse_special,
                            int32_t *tokens, size_t cap, size_t *n_out);
/* Raw bytes of a token after GPT-2 byte decoding (see ag_token_to_piece):
 * NORMAL tokens decoded, USER_DEFINED as their text, CONTROL as their text
 * only if special, other types empty. Not NUL-terminated; *n_out = length,
 * also on AG_ERR_BUFFER_TOO_SMALL (then nothing is written). */
ag_status ag_vocab_piece(const ag_vocab *v, int32_t token, bool special, char *buf, size_t cap,
                         size_t *n_out);
bool ag_vocab_is_eog(const ag_vocab *v, int32_t token);
bool ag_vocab_is_control(const ag_vocab *v, int32_t token);
int32_t ag_vocab_eos(const ag_vocab *v);
int32_t ag_vocab_find(const ag_vocab *v, const char *text); /* exact token text, or -1 */
/* Longest piece in bytes (for sizing detokenizer buffers). */
size_t ag_vocab_max_piece(const ag_vocab *v);

#endif
