/* types.c: THE type-traits table, one row per ggml type id we support.
 *
 * Designated initializers indexed by the ggml id (as ggml's type_traits[])
 * keep each row next to its id, and ids without a row stay zeroed, which is
 * how ag_type_traits_of() recognises unknown/unsupported types (name NULL).
 * A switch per query was rejected: the table is also what later SIMD issues
 * patch (replace a row's vec_dot) and what tools print.
 *
 * from_float is NULL nowhere for the types listed here: every type has a
 * reference quantizer (K-quants and iq4 with the simple searches of q_k.c /
 * q_iq.c rather than ggml's weighted ones). */
#include "quant/types.h"
#include "quant/ref.h"

#include <ctype.h>

#define ROW(id_, name_, block_, bytes_, fn_)                                                  \
    [id_] = {.name = name_, .block = block_, .bytes = bytes_, .to_float = ag_quant_dequant_##fn_, \
             .from_float = ag_quant_quantize_##fn_, .vec_dot = ag_quant_dot_##fn_}

static const ag_type_traits traits[AG_TYPE_COUNT] = {
    ROW(AG_TYPE_F32, "f32", 1, 4, f32),
    ROW(AG_TYPE_F16, "f16", 1, 2, f16),
    ROW(AG_TYPE_Q4_0, "q4_0", 32, 18, q4_0),
    ROW(AG_TYPE_Q4_1, "q4_1", 32, 20, q4_1),
    ROW(AG_TYPE_Q5_0, "q5_0", 32, 22, q5_0),
    ROW(AG_TYPE_Q5_1, "q5_1", 32, 24, q5_1),
    ROW(AG_TYPE_Q8_0, "q8_0", 32, 34, q8_0),
    ROW(AG_TYPE_Q8_1, "q8_1", 32, 36, q8_1),
    ROW(AG_TYPE_Q2_K, "q2_K", 256, 84, q2_K),
    ROW(AG_TYPE_Q3_K, "q3_K", 256, 110, q3_K),
    ROW(AG_TYPE_Q4_K, "q4_K", 256, 144, q4_K),
    ROW(AG_TYPE_Q5_K, "q5_K", 256, 176, q5_K),
    ROW(AG_TYPE_Q6_K, "q6_K", 256, 210, q6_K),
    ROW(AG_TYPE_Q8_K, "q8_K", 256, 292, q8_K),
    ROW(AG_TYPE_IQ4_NL, "iq4_nl", 32, 18, iq4_nl),
    ROW(AG_TYPE_IQ4_XS, "iq4_xs", 256, 136, iq4_xs),
    ROW(AG_TYPE_BF16, "bf16", 1, 2, bf16),
};

const ag_type_traits *ag_type_traits_of(uint32_t type)
{
    if (type >= AG_TYPE_COUNT || !traits[type].name) return NULL;
    return &traits[type];
}

static int name_eq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) return 0;
    return *a == *b;
}

int ag_type_from_name(const char *name)
{
    if (!name) return -1;
    for (int id = 0; id < AG_TYPE_COUNT; id++)
        if (traits[id].name && name_eq(traits[id].name, name)) return id;
    return -1;
}
