/* cmd_logits.c: `airgap logits`, raw logits of a token sequence, for
 * conformance and regression tests.
 *
 * Two modes exercise the two paths the engine must agree on: prefill (one
 * ag_decode with all tokens and all_logits, n_batch >= n_tokens so it is a
 * single forward step) and decode (one ag_decode per token, row 0 each
 * time). The output is n_tokens x n_vocab little-endian float32, row per
 * position, the layout of the fixtures' exact-*.f32 files, so a test can
 * compare them directly. Rows are streamed to OUT.tmp as they are produced
 * (a 248k vocab times many positions would not fit comfortably in memory)
 * and the file is renamed to OUT only when complete, so a failed or
 * interrupted run never leaves a plausible-looking partial file. The summary
 * line carries a 32-bit FNV-1a hash of the bytes written, a cheap "did the
 * numbers change" check (the idea of calm's logits hash). */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct id_list {
    int32_t *ids;
    size_t n, cap;
} id_list;

static bool looks_like_list(const char *s)
{
    for (const char *p = s; *p; p++)
        if (!isdigit((unsigned char)*p) && *p != ',' && *p != '-' && *p != '+' &&
            !isspace((unsigned char)*p))
            return false;
    return true;
}

/* Parses whitespace/comma separated integers. where names the source in errors. */
static int parse_ids(const char *s, const char *where, id_list *out)
{
    const char *p = s;
    for (;;) {
        while (*p == ',' || isspace((unsigned char)*p))
            p++;
        if (!*p)
            break;
        const char *start = p;
        while (*p && *p != ',' && !isspace((unsigned char)*p))
            p++;
        char item[32];
        size_t len = (size_t)(p - start);
        snprintf(item, sizeof(item), "%.*s", (int)(len < 24 ? len : 24), start);
        char *end;
        errno = 0;
        long long v = strtoll(start, &end, 10);
        if (end != p || len >= 24 || errno == ERANGE || v < INT32_MIN || v > INT32_MAX) {
            fprintf(stderr, "airgap logits: %s: item %zu: expected a token id, got '", where,
                    out->n + 1);
            cli_put_escaped(stderr, item, strlen(item), 0);
            fprintf(stderr, "%s'\n", len >= 24 ? "..." : "");
            return CLI_USAGE;
        }
        if (out->n == out->cap) {
            size_t nc = out->cap ? out->cap * 2 : 64;
            int32_t *ni = realloc(out->ids, nc * sizeof(*ni));
            if (!ni)
                return cli_fail_msg("out of memory");
            out->ids = ni;
            out->cap = nc;
        }
        out->ids[out->n++] = (int32_t)v;
    }
    if (out->n == 0)
        return cli_usage_error("logits", "%s: no token ids", where);
    return CLI_OK;
}

static uint32_t fnv1a(uint32_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

static bool host_is_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* Writes one row as little-endian float32 and folds it into the hash. */
static bool write_row(FILE *f, const float *row, int32_t n_vocab, float *scratch, uint32_t *hash)
{
    const void *src = row;
    if (!host_is_little_endian()) {
        for (int32_t i = 0; i < n_vocab; i++) {
            unsigned char b[4], r[4];
            memcpy(b, &row[i], 4);
            r[0] = b[3]; r[1] = b[2]; r[2] = b[1]; r[3] = b[0];
            memcpy(&scratch[i], r, 4);
        }
        src = scratch;
    }
    size_t bytes = (size_t)n_vocab * sizeof(float);
    *hash = fnv1a(*hash, src, bytes);
    return fwrite(src, 1, bytes, f) == bytes;
}

int cmd_logits(int argc, char **argv)
{
    const char *path = NULL, *tokens_arg = NULL, *mode = NULL, *out_path = NULL;
    int32_t n_ctx = 0, n_threads = 0;
    bool ctx_set = false;
    cli_opt opts[] = {
        { "-m", "--model", CLI_STR, &path, 0, 0, "FILE|NAME", "model file or cached name", true, false, NULL },
        { NULL, "--tokens", CLI_STR, &tokens_arg, 0, 0, "LIST|FILE",
          "token ids: \"1,2,3\" (comma/space separated) or a file of such ids", true, false,
          NULL },
        { NULL, "--mode", CLI_STR, &mode, 0, 0, "prefill|decode",
          "prefill: one call for all tokens; decode: one call per token", true, false, NULL },
        { "-o", "--output", CLI_STR, &out_path, 0, 0, "FILE",
          "output: n_tokens x n_vocab little-endian float32", true, false, NULL },
        { "-c", "--ctx-size", CLI_INT, &n_ctx, 0, INT32_MAX, "N",
          "context size, 0 = the number of tokens", false, false, &ctx_set },
        { "-t", "--threads", CLI_INT, &n_threads, 0, 4096, "N", "threads, 0 = physical cores",
          false, false, NULL },
    };
    cli_spec spec = {
        "logits", "-m FILE --tokens LIST|FILE --mode prefill|decode -o OUT [options]",
        "Runs the model over a token sequence and writes the logits of every position\n"
        "(row per position) as raw float32. A summary with an FNV-1a hash of the bytes\n"
        "goes to stderr. A --tokens value made only of digits, commas and spaces is a\n"
        "list; anything else is a file name (write ./123 for a file named 123).",
        "  airgap logits -m tiny-f32.gguf --tokens tokens.txt --mode prefill -o out.f32\n"
        "  airgap logits -m model.gguf --tokens 9419,1879 --mode decode -o out.f32",
        opts, sizeof(opts) / sizeof(opts[0]), NULL, 0
    };
    int prc = cli_parse(&spec, argc, argv, NULL, NULL);
    if (prc >= 0)
        return prc;
    bool prefill;
    if (strcmp(mode, "prefill") == 0)
        prefill = true;
    else if (strcmp(mode, "decode") == 0)
        prefill = false;
    else {
        fputs("airgap logits: --mode: expected prefill or decode, got '", stderr);
        cli_put_escaped(stderr, mode, strlen(mode), 0);
        fputs("'\n", stderr);
        return CLI_USAGE;
    }

    id_list ids = { NULL, 0, 0 };
    int rc;
    if (looks_like_list(tokens_arg)) {
        rc = parse_ids(tokens_arg, "--tokens", &ids);
    } else {
        char *text = NULL;
        size_t len = 0;
        if (!cli_read_file(tokens_arg, &text, &len))
            return CLI_FAIL;
        rc = strlen(text) == len ? parse_ids(text, tokens_arg, &ids)
                                 : cli_usage_error("logits", "%s: contains a NUL byte",
                                                   tokens_arg);
        free(text);
    }
    if (rc != CLI_OK) {
        free(ids.ids);
        return rc;
    }
    if (ctx_set && n_ctx != 0 && (size_t)n_ctx < ids.n) {
        free(ids.ids);
        return cli_usage_error("logits", "-c %d is smaller than the %zu tokens", (int)n_ctx,
                               ids.n);
    }
    if (ids.n > INT32_MAX) {
        free(ids.ids);
        return cli_usage_error("logits", "too many tokens (%zu)", ids.n);
    }

    char resolved[4096];
    {
        int rrc = cli_model_path(path, false, false, resolved, sizeof(resolved));
        if (rrc != CLI_OK)
            return rrc;
        path = resolved;
    }
    ag_model *m = NULL;
    ag_context *c = NULL;
    FILE *f = NULL;
    float *scratch = NULL;
    char *tmp_path = NULL;
    rc = CLI_FAIL;
    ag_model_params mp = ag_model_default_params();
    ag_status st = ag_model_load(path, &mp, &m);
    if (st != AG_OK) {
        cli_fail(st);
        goto out;
    }
    int32_t n_vocab = ag_model_n_vocab(m);
    for (size_t i = 0; i < ids.n; i++) {
        if (ids.ids[i] < 0 || ids.ids[i] >= n_vocab) {
            rc = cli_usage_error("logits", "--tokens: token %d at position %zu is out of range "
                                 "[0, %d)", (int)ids.ids[i], i, (int)n_vocab);
            goto out;
        }
    }
    ag_context_params cp = ag_context_default_params();
    cp.n_ctx = n_ctx > 0 ? n_ctx : (int32_t)ids.n;
    cp.n_threads = n_threads;
    if (prefill)
        cp.n_batch = (int32_t)ids.n;
    if ((st = ag_context_create(m, &cp, &c)) != AG_OK) {
        cli_fail(st);
        goto out;
    }
    size_t pl = strlen(out_path);
    tmp_path = malloc(pl + 5);
    scratch = malloc((size_t)n_vocab * sizeof(float));
    if (!tmp_path || !scratch) {
        cli_fail_msg("out of memory");
        goto out;
    }
    memcpy(tmp_path, out_path, pl);
    memcpy(tmp_path + pl, ".tmp", 5);
    f = fopen(tmp_path, "wb");
    if (!f) {
        cli_fail_msg("%s: %s", tmp_path, strerror(errno));
        goto out;
    }

    uint32_t hash = 2166136261u;
    double t_decode = 0, t0;
    bool ok = true;
    if (prefill) {
        t0 = cli_now();
        st = ag_decode(c, ids.ids, ids.n, true);
        t_decode = cli_now() - t0;
        if (st != AG_OK) {
            cli_fail(st);
            ok = false;
        }
        for (size_t i = 0; ok && i < ids.n; i++) {
            const float *row = ag_get_logits(c, i);
            if (!row) {
                cli_fail_msg("no logits for position %zu after prefill", i);
                ok = false;
            } else if (!write_row(f, row, n_vocab, scratch, &hash)) {
                cli_fail_msg("%s: write failed: %s", tmp_path, strerror(errno));
                ok = false;
            }
        }
    } else {
        for (size_t i = 0; ok && i < ids.n; i++) {
            t0 = cli_now();
            st = ag_decode(c, &ids.ids[i], 1, false);
            t_decode += cli_now() - t0;
            const float *row = st == AG_OK ? ag_get_logits(c, 0) : NULL;
            if (st != AG_OK) {
                cli_fail(st);
                ok = false;
            } else if (!row) {
                cli_fail_msg("no logits for position %zu after decode", i);
                ok = false;
            } else if (!write_row(f, row, n_vocab, scratch, &hash)) {
                cli_fail_msg("%s: write failed: %s", tmp_path, strerror(errno));
                ok = false;
            }
        }
    }
    if (fclose(f) != 0 && ok) {
        cli_fail_msg("%s: write failed: %s", tmp_path, strerror(errno));
        ok = false;
    }
    f = NULL;
    if (ok && rename(tmp_path, out_path) != 0) {
        cli_fail_msg("%s: cannot rename to %s: %s", tmp_path, out_path, strerror(errno));
        ok = false;
    }
    if (!ok) {
        remove(tmp_path);
        goto out;
    }
    fprintf(stderr, "logits: %zu tokens x %d vocab, %s, %.3f s (%.1f tok/s), fnv1a %08x -> ",
            ids.n, (int)n_vocab, prefill ? "prefill" : "decode", t_decode,
            t_decode > 0 ? (double)ids.n / t_decode : 0.0, (unsigned)hash);
    cli_put_escaped(stderr, out_path, strlen(out_path), 0);
    fputc('\n', stderr);
    rc = CLI_OK;
out:
    if (f) {
        fclose(f);
        remove(tmp_path);
    }
    free(tmp_path);
    free(scratch);
    ag_context_free(c);
    ag_model_free(m);
    free(ids.ids);
    return rc;
}
