/* model.c: loading a model (Stage 1 of 5: load) and what can be asked of it.
 *
 * Generic over architectures: open and validate the GGUF (mapped, never
 * copied), build the vocabulary, find the architecture by
 * general.architecture and let it bind its tensors. Everything read from the
 * file is checked; failures name the file and what is wrong. */
#include "model/arch.h"
#include "model/model.h"
#include "core/status.h"
#include "quant/types.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ag_model_params ag_model_default_params(void)
{
    ag_model_params p;
    memset(&p, 0, sizeof(p));
    p.size = sizeof(p);
    p.use_mmap = true;
    p.vocab_only = false;
    return p;
}

const ag_vocab *ag_model_vocab(const ag_model *m) { return m ? m->vocab : NULL; }
const ag_gguf *ag_model_gguf(const ag_model *m) { return m ? m->gguf : NULL; }

void ag_model_free(ag_model *m)
{
    if (!m) return;
    if (m->arch && m->arch->unload) m->arch->unload(m);
    for (size_t i = 0; i < m->n_copies; i++) free(m->copies[i]);
    free(m->copies);
    ag_vocab_free(m->vocab);
    ag_gguf_close(m->gguf);
    free(m->path);
    free(m);
}

ag_status ag_model_load(const char *path, const ag_model_params *p, ag_model **out)
{
    if (!out) return ag_fail(AG_ERR_INVALID_ARG, "ag_model_load: out is NULL");
    *out = NULL;
    if (!path) return ag_fail(AG_ERR_INVALID_ARG, "ag_model_load: path is NULL");
    ag_model_params params = ag_model_default_params();
    if (p) {
        if (p->size < offsetof(ag_model_params, vocab_only) + sizeof(bool))
            return ag_fail(AG_ERR_INVALID_ARG, "ag_model_load: params.size %u too small", p->size);
        params = *p;
    }
    ag_model *m = calloc(1, sizeof(*m));
    if (!m) return ag_fail(AG_ERR_NOMEM, "%s: out of memory", path);
    m->path = strdup(path);
    if (!m->path) { free(m); return ag_fail(AG_ERR_NOMEM, "%s: out of memory", path); }

    ag_status st = ag_gguf_open(path, params.use_mmap, &m->gguf);
    if (st != AG_OK) goto fail;
    ag_gguf *g = m->gguf;

    ag_str arch;
    st = ag_gguf_get_str(g, "general.architecture", &arch);
    if (st != AG_OK) goto fail;
    if (arch.n == 0 || arch.n >= sizeof(m->arch_name) || memchr(arch.p, 0, arch.n)) {
        st = ag_fail(AG_ERR_FORMAT, "%s: key 'general.architecture': invalid value", path);
        goto fail;
    }
    memcpy(m->arch_name, arch.p, arch.n);
    m->arch_name[arch.n] = 0;

    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const ag_gguf_tensor *t = &g->tensors[i];
        m->n_params += t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
        m->tensor_bytes += t->n_bytes;
    }

    if (ag_gguf_find_key(g, "tokenizer.ggml.model") >= 0) {
        st = ag_vocab_load(g, &m->vocab);
        if (st != AG_OK) goto fail;
        m->n_vocab = ag_vocab_n_tokens(m->vocab);
    } else if (params.vocab_only) {
        st = ag_fail(AG_ERR_FORMAT, "%s: no tokenizer (key 'tokenizer.ggml.model' missing)", path);
        goto fail;
    }

    if (!params.vocab_only) {
        m->arch = ag_arch_find(m->arch_name);
        if (!m->arch) {
            st = ag_fail(AG_ERR_UNSUPPORTED, "%s: architecture '%s' is not supported (supported: qwen35)", path,
                         m->arch_name);
            goto fail;
        }
        st = m->arch->load(m);
        if (st != AG_OK) { m->arch = NULL; goto fail; }
    } else {
        snprintf(m->desc, sizeof(m->desc), "%s vocabulary, %d tokens", m->arch_name, m->n_vocab);
    }
    /* Everything the header held has been copied or indexed: its pages go
     * back to the OS (a later read of, say, the chat template maps one again). */
    ag_gguf_release_range(g, g->base, g->data_offset < g->file_size ? g->data_offset : g->file_size);
    *out = m;
    return AG_OK;
fail:
    ag_model_free(m);
    return st;
}

const char *ag_model_arch(const ag_model *m) { return m ? m->arch_name : ""; }
int32_t ag_model_n_vocab(const ag_model *m) { return m ? m->n_vocab : 0; }
int32_t ag_model_n_embd(const ag_model *m) { return m ? m->n_embd : 0; }
int32_t ag_model_n_layer(const ag_model *m) { return m ? m->n_layer : 0; }
int32_t ag_model_n_ctx_train(const ag_model *m) { return m ? m->n_ctx_train : 0; }
uint64_t ag_model_n_params(const ag_model *m) { return m ? m->n_params : 0; }
uint64_t ag_model_file_size(const ag_model *m) { return m ? m->gguf->file_size : 0; }
uint64_t ag_model_tensor_bytes(const ag_model *m) { return m ? m->tensor_bytes : 0; }
const char *ag_model_desc(const ag_model *m) { return m ? m->desc : ""; }

size_t ag_model_n_meta(const ag_model *m) { return m ? (size_t)m->gguf->n_kv : 0; }

const char *ag_model_meta_key(const ag_model *m, size_t i)
{
    if (!m || i >= m->gguf->n_kv) return NULL;
    return m->gguf->kv[i].key;
}

ag_status ag_model_meta_value(const ag_model *m, size_t i, size_t max_items, char *buf, size_t cap,
                              size_t *n_out)
{
    if (!m || i >= m->gguf->n_kv) return ag_fail(AG_ERR_INVALID_ARG, "metadata index %zu out of range", i);
    size_t n = ag_gguf_kv_to_string(&m->gguf->kv[i], max_items, buf, cap);
    if (n_out) *n_out = n;
    if (n + 1 > cap) return ag_fail(AG_ERR_BUFFER_TOO_SMALL, "metadata value needs %zu bytes", n + 1);
    return AG_OK;
}

size_t ag_model_n_tensors(const ag_model *m) { return m ? (size_t)m->gguf->n_tensors : 0; }

ag_status ag_model_tensor(const ag_model *m, size_t i, ag_tensor_info *out)
{
    if (!m || !out || i >= m->gguf->n_tensors)
        return ag_fail(AG_ERR_INVALID_ARG, "tensor index %zu out of range", i);
    const ag_gguf_tensor *t = &m->gguf->tensors[i];
    const ag_type_traits *tt = ag_type_traits_of(t->type);
    out->name = t->name;
    out->type_name = tt ? tt->name : "?";
    out->n_dims = t->n_dims;
    for (int k = 0; k < 4; k++) out->ne[k] = t->ne[k];
    out->n_bytes = t->n_bytes;
    out->offset = m->gguf->data_offset + t->offset;
    return AG_OK;
}

/* ---- helpers for architectures ---- */

bool ag_model_has_tensor(const ag_model *m, const char *name) { return ag_gguf_find_tensor(m->gguf, name) >= 0; }

static ag_status find_checked(ag_model *m, const char *name, int64_t ne0, int64_t ne1, const ag_gguf_tensor **out)
{
    int64_t i = ag_gguf_find_tensor(m->gguf, name);
    if (i < 0) return ag_fail(AG_ERR_FORMAT, "%s: tensor '%s' is missing", m->path, name);
    const ag_gguf_tensor *t = &m->gguf->tensors[i];
    int64_t want1 = ne1 > 0 ? ne1 : 1;
    if ((int64_t)t->ne[0] != ne0 || (int64_t)t->ne[1] != want1 || t->ne[2] != 1 || t->ne[3] != 1) {
        if (ne1 > 0)
            return ag_fail(AG_ERR_FORMAT, "%s: tensor '%s': shape {%llu, %llu, %llu, %llu}, expected {%lld, %lld}",
                           m->path, name, (unsigned long long)t->ne[0], (unsigned long long)t->ne[1],
                           (unsigned long long)t->ne[2], (unsigned long long)t->ne[3], (long long)ne0,
                           (long long)ne1);
        return ag_fail(AG_ERR_FORMAT, "%s: tensor '%s': shape {%llu, %llu, %llu, %llu}, expected {%lld}", m->path,
                       name, (unsigned long long)t->ne[0], (unsigned long long)t->ne[1],
                       (unsigned long long)t->ne[2], (unsigned long long)t->ne[3], (long long)ne0);
    }
    if (!ag_type_traits_of(t->type))
        return ag_fail(AG_ERR_UNSUPPORTED, "%s: tensor '%s': type %u not supported", m->path, name, t->type);
    if (!t->data) return ag_fail(AG_ERR_FORMAT, "%s: tensor '%s': no data", m->path, name);
    if ((uintptr_t)t->data % 4 != 0)
        return ag_fail(AG_ERR_UNSUPPORTED, "%s: tensor '%s': data not 4-byte aligned", m->path, name);
    *out = t;
    return AG_OK;
}

ag_status ag_model_bind_weight(ag_model *m, const char *name, int64_t n_in, int64_t n_out, ag_weight *out)
{
    const ag_gguf_tensor *t = NULL;
    ag_status st = find_checked(m, name, n_in, n_out, &t);
    if (st != AG_OK) return st;
    out->data = t->data;
    out->type = t->type;
    out->tt = ag_type_traits_of(t->type);
    out->n_in = n_in;
    out->n_out = n_out;
    out->row_bytes = ag_type_row_bytes(out->tt, (uint64_t)n_in);
    return AG_OK;
}

/* F32 data at a 4-byte aligned file offset (the mapping and the read
 * buffer are page/malloc aligned) is used in place. */
static bool f32_borrowable(const ag_gguf *g, const ag_gguf_tensor *t)
{
    return t->type == AG_TYPE_F32 && (g->data_offset + t->offset) % sizeof(float) == 0;
}

uint64_t ag_model_f32_copy_bytes(const ag_gguf *g, const char *name)
{
    int64_t i = ag_gguf_find_tensor(g, name);
    if (i < 0) return 0;
    const ag_gguf_tensor *t = &g->tensors[i];
    if (f32_borrowable(g, t)) return 0;
    return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3] * sizeof(float);
}

ag_status ag_model_load_f32(ag_model *m, const char *name, int64_t ne0, int64_t ne1, const float **out)
{
    const ag_gguf_tensor *t = NULL;
    ag_status st = find_checked(m, name, ne0, ne1, &t);
    if (st != AG_OK) return st;
    if (f32_borrowable(m->gguf, t)) {
        *out = t->data;
        return AG_OK;
    }
    int64_t n = ne0 * (ne1 > 0 ? ne1 : 1);
    float **list = realloc(m->copies, (m->n_copies + 1) * sizeof(*list));
    float *v = list ? malloc((size_t)n * sizeof(float)) : NULL;
    if (list) m->copies = list;
    if (!v) return ag_fail(AG_ERR_NOMEM, "%s: tensor '%s': out of memory", m->path, name);
    m->copies[m->n_copies++] = v;
    const ag_type_traits *tt = ag_type_traits_of(t->type);
    uint64_t rb = ag_type_row_bytes(tt, (uint64_t)ne0);
    for (int64_t r = 0; r < (ne1 > 0 ? ne1 : 1); r++) tt->to_float((const uint8_t *)t->data + r * rb, v + r * ne0, ne0);
    *out = v;
    return AG_OK;
}
