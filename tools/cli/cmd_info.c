/* cmd_info.c: `airgap info`, a model's vital statistics.
 *
 * Prints what a user asks first about a GGUF file: size, architecture, the
 * library's one-line description, parameter count, bytes of tensor data (and
 * bits per weight), the mix of tensor types, then every metadata key with its
 * value as the library renders it (arrays cut to 8 items unless --all; the
 * tokenizer's huge arrays stay cut even then), and with --all every tensor.
 * The model is loaded with default params: mmap makes that cheap, and it
 * validates the whole file, so info doubles as a file checker. Everything
 * from the file is printed escaped (cli_put_escaped), so hostile strings
 * cannot drive the terminal. --system prints ag_system_info() and needs no
 * model. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

typedef struct type_mix {
    const char *name;
    size_t count;
    uint64_t bytes;
} type_mix;

static int cmp_mix(const void *a, const void *b)
{
    const type_mix *x = a, *y = b;
    if (x->bytes != y->bytes)
        return x->bytes < y->bytes ? 1 : -1;
    return strcmp(x->name, y->name);
}

static void print_str(const char *s)
{
    if (s)
        cli_put_escaped(stdout, s, strlen(s), 0);
}

static int print_types(const ag_model *m)
{
    size_t nt = ag_model_n_tensors(m);
    type_mix *mix = calloc(nt ? nt : 1, sizeof(*mix));
    if (!mix)
        return cli_fail_msg("out of memory");
    size_t n_mix = 0;
    for (size_t i = 0; i < nt; i++) {
        ag_tensor_info ti;
        ag_status st = ag_model_tensor(m, i, &ti);
        if (st != AG_OK) {
            free(mix);
            return cli_fail(st);
        }
        const char *tn = ti.type_name ? ti.type_name : "?";
        size_t k = 0;
        while (k < n_mix && strcmp(mix[k].name, tn) != 0)
            k++;
        if (k == n_mix)
            mix[n_mix++] = (type_mix){ tn, 0, 0 };
        mix[k].count++;
        mix[k].bytes += ti.n_bytes;
    }
    qsort(mix, n_mix, sizeof(*mix), cmp_mix);
    printf("tensor types:\n");
    for (size_t k = 0; k < n_mix; k++) {
        char b[32];
        cli_fmt_bytes(mix[k].bytes, b, sizeof(b));
        printf("  ");
        print_str(mix[k].name);
        printf(": %zu tensor%s, %s\n", mix[k].count, mix[k].count == 1 ? "" : "s", b);
    }
    free(mix);
    return CLI_OK;
}

#define LONG_VALUE 160 /* longer rendered values are cut unless --all */

static bool huge_key(const char *key)
{
    return strncmp(key, "tokenizer.ggml.", 15) == 0;
}

static int print_meta(const ag_model *m, bool all)
{
    size_t nm = ag_model_n_meta(m);
    size_t cap = 1024;
    char *buf = malloc(cap);
    if (!buf)
        return cli_fail_msg("out of memory");
    printf("metadata (%zu keys):\n", nm);
    for (size_t i = 0; i < nm; i++) {
        const char *key = ag_model_meta_key(m, i);
        size_t max_items = all && !(key && huge_key(key)) ? SIZE_MAX : 8;
        size_t need = 0;
        ag_status st = ag_model_meta_value(m, i, max_items, buf, cap, &need);
        if (st == AG_ERR_BUFFER_TOO_SMALL && need >= cap) {
            char *nb = realloc(buf, need + 1);
            if (!nb) {
                free(buf);
                return cli_fail_msg("out of memory");
            }
            buf = nb;
            cap = need + 1;
            st = ag_model_meta_value(m, i, max_items, buf, cap, &need);
        }
        if (st != AG_OK) {
            free(buf);
            return cli_fail(st);
        }
        printf("  ");
        print_str(key ? key : "?");
        printf(" = ");
        size_t len = need < cap ? need : strlen(buf);
        if (!all && len > LONG_VALUE) {
            /* long strings (a chat template) are cut too; back up to a UTF-8 boundary */
            size_t cut = LONG_VALUE - 40;
            while (cut > 0 && ((unsigned char)buf[cut] & 0xC0) == 0x80)
                cut--;
            cli_put_safe(stdout, buf, cut);
            printf("... (%zu chars, --all shows all)", len);
        } else {
            cli_put_safe(stdout, buf, len);
        }
        putchar('\n');
    }
    free(buf);
    return CLI_OK;
}

static int print_tensors(const ag_model *m)
{
    size_t nt = ag_model_n_tensors(m);
    printf("tensors (%zu):\n", nt);
    for (size_t i = 0; i < nt; i++) {
        ag_tensor_info ti;
        ag_status st = ag_model_tensor(m, i, &ti);
        if (st != AG_OK)
            return cli_fail(st);
        char shape[128];
        int at = snprintf(shape, sizeof(shape), "[");
        for (uint32_t d = 0; d < ti.n_dims && d < 4; d++)
            at += snprintf(shape + at, sizeof(shape) - (size_t)at, "%s%llu", d ? ", " : "",
                           (unsigned long long)ti.ne[d]);
        snprintf(shape + at, sizeof(shape) - (size_t)at, "]");
        char b[32];
        cli_fmt_bytes(ti.n_bytes, b, sizeof(b));
        printf("  %4zu  ", i);
        print_str(ti.name ? ti.name : "?");
        printf("  ");
        print_str(ti.type_name ? ti.type_name : "?");
        printf("  %s  %s (%llu bytes)\n", shape, b, (unsigned long long)ti.n_bytes);
    }
    return CLI_OK;
}

int cmd_info(int argc, char **argv)
{
    const char *path = NULL;
    bool all = false, sys = false;
    cli_opt opts[] = {
        { "-m", "--model", CLI_STR, &path, 0, 0, "FILE|NAME", "model file or cached name; needed unless --system",
          false, true, NULL },
        { NULL, "--all", CLI_BOOL, &all, 0, 0, NULL,
          "every array item (tokenizer arrays stay abbreviated) and every tensor", false, false,
          NULL },
        { NULL, "--system", CLI_BOOL, &sys, 0, 0, NULL,
          "print what the CPU offers and what airgap chose", false, false, NULL },
    };
    cli_spec spec = {
        "info", "-m FILE [--all] [--system]",
        "Shows a model's file size, architecture, parameter count, tensor data size and\n"
        "type mix, and its metadata. Loading validates the whole file.",
        "  airgap info -m Qwen3.5-0.8B-Q4_K_M.gguf\n"
        "  airgap info -m model.gguf --all | less\n"
        "  airgap info --system",
        opts, sizeof(opts) / sizeof(opts[0]), NULL, 0
    };
    int prc = cli_parse(&spec, argc, argv, NULL, NULL);
    if (prc >= 0)
        return prc;
    if (!path && !sys)
        return cli_usage_error("info", "-m/--model FILE is required (or --system)");
    if (sys) {
        const char *si = ag_system_info();
        printf("system: ");
        print_str(si ? si : "");
        putchar('\n');
        if (!path)
            return CLI_OK;
    }

    char resolved[4096];
    {
        int rrc = cli_model_path(path, false, false, resolved, sizeof(resolved));
        if (rrc != CLI_OK)
            return rrc;
        path = resolved;
    }
    ag_model_params mp = ag_model_default_params();
    ag_model *m = NULL;
    ag_status st = ag_model_load(path, &mp, &m);
    bool vocab_only = false;
    if (st == AG_ERR_UNSUPPORTED) {
        /* e.g. a vocabulary-only file of another architecture: still show
         * what can be read, and say why it cannot run */
        char why[512];
        snprintf(why, sizeof(why), "%s", ag_last_error());
        mp.vocab_only = true;
        if (ag_model_load(path, &mp, &m) == AG_OK) {
            vocab_only = true;
            printf("note:          cannot run this file: ");
            print_str(why);
            printf("\n               (loaded metadata and vocabulary only)\n");
        }
    }
    if (!m)
        return cli_fail(st);

    char a[32], b[32];
    uint64_t fsize = ag_model_file_size(m), np = ag_model_n_params(m);
    uint64_t tbytes = ag_model_tensor_bytes(m);
    printf("file:          ");
    print_str(path);
    cli_fmt_bytes(fsize, a, sizeof(a));
    printf(" (%s, %llu bytes)\n", a, (unsigned long long)fsize);
    printf("architecture:  ");
    print_str(ag_model_arch(m));
    printf("\ndescription:   ");
    print_str(ag_model_desc(m));
    cli_fmt_count(np, a, sizeof(a));
    printf("\nparameters:    %s (%llu)\n", a, (unsigned long long)np);
    cli_fmt_bytes(tbytes, b, sizeof(b));
    printf("tensor data:   %s (%llu bytes", b, (unsigned long long)tbytes);
    if (np > 0)
        printf(", %.2f bits per weight", (double)tbytes * 8.0 / (double)np);
    printf(")\n");
    if (vocab_only)
        printf("shape:         n_vocab %d\n", (int)ag_model_n_vocab(m));
    else
        printf("shape:         n_vocab %d, n_embd %d, n_layer %d, n_ctx_train %d\n",
               (int)ag_model_n_vocab(m), (int)ag_model_n_embd(m), (int)ag_model_n_layer(m),
               (int)ag_model_n_ctx_train(m));
    int rc = print_types(m);
    if (rc == CLI_OK)
        rc = print_meta(m, all);
    if (rc == CLI_OK && all)
        rc = print_tensors(m);
    ag_model_free(m);
    return rc;
}
