/* model.h: what the library's modules may know about an ag_model.
 *
 * The model owns the opened GGUF (mapped), the vocabulary, and the
 * architecture's private weights/hparams. Architectures plug in through
 * arch.h; nothing here is qwen35-specific. */
#ifndef AG_MODEL_MODEL_H
#define AG_MODEL_MODEL_H

#include "airgap.h"
#include "gguf/gguf.h"
#include "tokenizer/vocab.h"

const ag_vocab *ag_model_vocab(const ag_model *m);
const ag_gguf *ag_model_gguf(const ag_model *m);

#endif
