/* cmd_tokenize.c: `airgap tokenize`, text to token ids.
 *
 * Prints the ids space-separated on one line (easy to paste into `airgap
 * logits --tokens` or to diff against another tokenizer), then, unless
 * --ids-only, one "id -> 'piece'" line per token with the piece's bytes
 * escaped (pieces may be partial UTF-8 or control bytes). Special-token texts
 * such as <|im_start|> are recognised unless --no-special, matching how chat
 * prompts are tokenized. The model is loaded with vocab_only, so this works on
 * vocabulary-only GGUF files and costs no tensor validation. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

int cmd_tokenize(int argc, char **argv)
{
    const char *path = NULL, *prompt = NULL, *file = NULL;
    bool no_special = false, ids_only = false;
    cli_opt opts[] = {
        { "-m", "--model", CLI_STR, &path, 0, 0, "FILE|NAME", "model or vocabulary file, or cached name", true,
          false, NULL },
        { "-p", "--prompt", CLI_STR, &prompt, 0, 0, "TEXT", "the text (instead of TEXT)", false,
          true, NULL },
        { "-f", "--file", CLI_STR, &file, 0, 0, "FILE", "read the text from FILE", false, true,
          NULL },
        { NULL, "--no-special", CLI_BOOL, &no_special, 0, 0, NULL,
          "do not recognise control tokens such as <|im_start|>", false, false, NULL },
        { NULL, "--ids-only", CLI_BOOL, &ids_only, 0, 0, NULL,
          "print only the line of ids, not the pieces", false, false, NULL },
    };
    cli_spec spec = {
        "tokenize", "-m FILE [options] (TEXT | -p TEXT | -f FILE)",
        "Prints the token ids of a text on one line, then each id with its piece.\n"
        "No BOS token is added.",
        "  airgap tokenize -m ggml-vocab-qwen35.gguf \"Hello world\"\n"
        "  airgap tokenize -m model.gguf --ids-only -f prompt.txt",
        opts, sizeof(opts) / sizeof(opts[0]), "TEXT", 1
    };
    const char *pos[1];
    size_t n_pos = 0;
    int prc = cli_parse(&spec, argc, argv, pos, &n_pos);
    if (prc >= 0)
        return prc;
    int given = (n_pos > 0) + (prompt != NULL) + (file != NULL);
    if (given != 1)
        return cli_usage_error("tokenize", given ? "give the text once: TEXT, -p TEXT or -f FILE"
                                                 : "no text: give TEXT, -p TEXT or -f FILE");
    char *file_text = NULL;
    size_t len;
    const char *text = n_pos ? pos[0] : prompt;
    if (file) {
        if (!cli_read_file(file, &file_text, &len))
            return CLI_FAIL;
        text = file_text;
    } else {
        len = strlen(text);
    }

    char resolved[4096];
    {
        int rrc = cli_model_path(path, false, false, resolved, sizeof(resolved));
        if (rrc != CLI_OK)
            return rrc;
        path = resolved;
    }
    ag_model_params mp = ag_model_default_params();
    mp.vocab_only = true;
    ag_model *m = NULL;
    int32_t *toks = NULL;
    size_t n = 0;
    char *piece = NULL;
    int rc = CLI_FAIL;
    ag_status st = ag_model_load(path, &mp, &m);
    if (st != AG_OK) {
        cli_fail(st);
        goto out;
    }
    st = cli_tokenize(m, text, len, !no_special, &toks, &n);
    if (st != AG_OK) {
        cli_fail(st);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        printf(i ? " %d" : "%d", (int)toks[i]);
    putchar('\n');
    if (!ids_only) {
        size_t cap = 256;
        piece = malloc(cap);
        if (!piece) {
            cli_fail_msg("out of memory");
            goto out;
        }
        for (size_t i = 0; i < n; i++) {
            size_t pn = 0;
            st = ag_token_to_piece(m, toks[i], true, piece, cap, &pn);
            if (st == AG_ERR_BUFFER_TOO_SMALL && pn >= cap) {
                char *np = realloc(piece, pn + 1);
                if (!np) {
                    cli_fail_msg("out of memory");
                    goto out;
                }
                piece = np;
                cap = pn + 1;
                st = ag_token_to_piece(m, toks[i], true, piece, cap, &pn);
            }
            if (st != AG_OK) {
                cli_fail(st);
                goto out;
            }
            printf("%6d -> '", (int)toks[i]);
            cli_put_escaped(stdout, piece, pn < cap ? pn : cap, '\'');
            printf("'\n");
        }
    }
    rc = CLI_OK;
out:
    free(piece);
    free(toks);
    ag_model_free(m);
    free(file_text);
    return rc;
}
