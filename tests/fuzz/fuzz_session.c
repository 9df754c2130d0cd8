/* fuzz_session.c: arbitrary bytes loaded as a session file (--session,
 * ag_context_load_file).
 *
 * A session file is the state a chat or a prompt cache trusts across runs,
 * so a damaged, truncated or crafted one must be refused in one line, or
 * accepted only if it is entirely valid; either way the process goes on.
 * The target checks, for every input:
 *   - no crash, hang, leak or sanitizer report (the driver / libFuzzer);
 *   - a refusal leaves the context exactly as it was (n_past, tokens) and
 *     sets a one-line message;
 *   - an acceptance gives a context that decodes one more token with finite
 *     logits, and a user blob of the length it reports.
 * Seeds are real session files written here from the tiny fixture model
 * (f16 and q8_0 caches, with and without a user blob, at several lengths),
 * so mutations start from valid headers, checksums and state sections. The
 * interesting part of a session is its header and segment table: mutation
 * is focused on the first 4 KiB. */
#include "airgap.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FIX AG_SHARED_DIR "/fixtures/qwen35-tiny/tiny-f32.gguf"

const size_t ag_fuzz_focus_bytes = 4096;

static ag_model *model;
static ag_context *ctx_f16, *ctx_q8;
static char path[64];
static const int32_t prefix[3] = {11, 22, 33};

static ag_context *make_ctx(ag_cache_type kv)
{
    ag_context_params cp = ag_context_default_params();
    cp.n_ctx = 32;
    cp.n_batch = 8;
    cp.n_threads = 1;
    cp.type_k = cp.type_v = kv;
    ag_context *c = NULL;
    if (ag_context_create(model, &cp, &c) != AG_OK) {
        fprintf(stderr, "fuzz_session: context: %s\n", ag_last_error());
        abort();
    }
    return c;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (ag_model_load(FIX, NULL, &model) != AG_OK) {
        fprintf(stderr, "fuzz_session: %s\n", ag_last_error());
        abort();
    }
    ctx_f16 = make_ctx(AG_CACHE_F16);
    ctx_q8 = make_ctx(AG_CACHE_Q8_0);
    snprintf(path, sizeof(path), "/tmp/ag-fuzz-session-%ld.bin", (long)getpid());
    return 0;
}

static uint8_t *read_file(const char *p, size_t *n)
{
    FILE *f = fopen(p, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(len > 0 ? (size_t)len : 1);
    *n = b && len > 0 ? fread(b, 1, (size_t)len, f) : 0;
    fclose(f);
    return b;
}

/* Sessions of n tokens from c, with or without a user blob. */
void ag_fuzz_seeds(void (*add)(void *ctx, const uint8_t *data, size_t size), void *actx)
{
    ag_context *cs[2] = {ctx_f16, ctx_q8};
    static const char blob[] = "{\"messages\":[]}";
    int32_t toks[12];
    for (int i = 0; i < 12; i++) toks[i] = (int32_t)(7 + 13 * i);
    for (int ci = 0; ci < 2; ci++)
        for (int n = 1; n <= 12; n += 5)
            for (int with_user = 0; with_user < 2; with_user++) {
                ag_context *c = cs[ci];
                ag_context_reset(c);
                if (ag_decode(c, toks, (size_t)n, false) != AG_OK) abort();
                if (ag_context_save_file(c, NULL, path, with_user ? blob : NULL, with_user ? sizeof(blob) : 0) !=
                    AG_OK) {
                    fprintf(stderr, "fuzz_session: save: %s\n", ag_last_error());
                    abort();
                }
                size_t len = 0;
                uint8_t *b = read_file(path, &len);
                if (b && len) add(actx, b, len);
                free(b);
            }
    ag_context_reset(ctx_f16);
    ag_context_reset(ctx_q8);
    unlink(path);
}

static void check_one(ag_context *c, const uint8_t *data, size_t size)
{
    /* a known state before the load: 3 tokens */
    ag_context_reset(c);
    if (ag_decode(c, prefix, 3, false) != AG_OK) abort();
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);

    void *user = NULL;
    size_t user_len = 0;
    ag_status st = ag_context_load_file(c, path, &user, &user_len);
    if (st != AG_OK) {
        const char *msg = ag_last_error();
        if (!msg || !*msg || strchr(msg, '\n')) {
            fprintf(stderr, "fuzz_session: refusal without a one-line message\n");
            abort();
        }
        if (ag_context_n_past(c) != 3 || memcmp(ag_context_tokens(c, NULL), prefix, sizeof(prefix)) != 0) {
            fprintf(stderr, "fuzz_session: a refused load changed the context\n");
            abort();
        }
        if (user) abort();
        return;
    }
    if (user_len && !user) abort();
    if (user_len) ((volatile uint8_t *)user)[user_len - 1]; /* the blob is as long as reported */
    free(user);
    int32_t n = ag_context_n_past(c);
    if (n < 0 || n >= 32) return; /* full: nothing more to decode */
    int32_t next = 5;
    if (ag_decode(c, &next, 1, false) != AG_OK) {
        fprintf(stderr, "fuzz_session: accepted state cannot decode: %s\n", ag_last_error());
        abort();
    }
    const float *lg = ag_get_logits(c, 0);
    for (int i = 0; i < ag_model_n_vocab(model); i++)
        if (!isfinite(lg[i])) {
            fprintf(stderr, "fuzz_session: accepted state gives non-finite logits\n");
            abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_one(ctx_f16, data, size);
    check_one(ctx_q8, data, size);
    unlink(path);
    return 0;
}
