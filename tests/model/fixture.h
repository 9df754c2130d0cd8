/* fixture.h: the tiny conformance fixture (shared/fixtures/qwen35-tiny) as
 * the tests that run it see it: its folder and its token ids. One copy for
 * test_conformance, test_attn_long and test_quantize_model. */
#ifndef AG_TEST_FIXTURE_H
#define AG_TEST_FIXTURE_H

#include <stdint.h>
#include <stdio.h>

#define FIX AG_SHARED_DIR "/fixtures/qwen35-tiny/"

/* Up to cap ids from FIX tokens.txt; the count, or -1 if it cannot be opened. */
static int read_tokens(int32_t *tok, int cap)
{
    FILE *f = fopen(FIX "tokens.txt", "r");
    if (!f) return -1;
    int n = 0, v;
    while (n < cap && fscanf(f, "%d", &v) == 1) tok[n++] = v;
    fclose(f);
    return n;
}

#endif
