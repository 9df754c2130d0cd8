/* chat.c: renders a conversation as Qwen3.5 ChatML (ag_chat_render).
 *
 * Stage 2 of 5 (tokenize) starts from this text. The output must match, byte
 * for byte, what HF/llama.cpp produce by running the model's Jinja template
 * (fixtures/templates/Qwen3.5-4B.jinja, trim_blocks + lstrip_blocks) with the
 * small-model thinking default of spec section 6.3: the generation prompt is
 * "<think>\n\n</think>\n\n" unless enable_thinking is set.
 *
 * The template's logic is transcribed into C step by step, in template order,
 * and each block below names the template lines it implements. Python string
 * semantics are reproduced where the template relies on them: `|trim` is
 * str.strip() (all Unicode whitespace, decoded from UTF-8), split()[0] /
 * split()[-1] are "before the first" / "after the last" occurrence.
 *
 * Rejected alternatives: embedding a Jinja interpreter (large, and a second
 * language to harden against hostile templates) and rendering with sprintf
 * into a malloc'd string (the caller-buffer protocol of airgap.h is simpler
 * and allocation-free). Output goes through a writer that keeps counting past
 * the end of the caller's buffer, so one pass gives both the text and, when it
 * does not fit, the exact length needed. Vision content parts are not part of
 * the C API (content is plain text), so that branch of the template is absent. */
#include "airgap.h"
#include "core/status.h"

#include <string.h>

/* ---- borrowed string slices ----------------------------------------------- */

typedef struct {
    const char *p;
    size_t n;
} str_t;

static str_t str_of(const char *s)
{
    str_t r = {s ? s : "", s ? strlen(s) : 0};
    return r;
}

static bool str_eq(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

static bool starts_with(str_t s, const char *pre)
{
    size_t n = strlen(pre);
    return s.n >= n && memcmp(s.p, pre, n) == 0;
}

static bool ends_with(str_t s, const char *suf)
{
    size_t n = strlen(suf);
    return s.n >= n && memcmp(s.p + s.n - n, suf, n) == 0;
}

/* Offset of the first (last = false) or last occurrence of needle, or -1. */
static long find(str_t s, const char *needle, bool last)
{
    size_t n = strlen(needle);
    if (n > s.n)
        return -1;
    long found = -1;
    for (size_t i = 0; i + n <= s.n; i++) {
        if (memcmp(s.p + i, needle, n) == 0) {
            found = (long)i;
            if (!last)
                break;
        }
    }
    return found;
}

/* Length of the UTF-8 encoded whitespace character (Python str.isspace())
 * starting at s[i], or 0. The set: \t \n \v \f \r, U+001C..U+001F, space,
 * U+0085, U+00A0, U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F,
 * U+3000. */
static size_t space_at(str_t s, size_t i)
{
    const unsigned char *u = (const unsigned char *)s.p + i;
    size_t left = s.n - i;
    if (left == 0)
        return 0;
    if ((u[0] >= 0x09 && u[0] <= 0x0d) || (u[0] >= 0x1c && u[0] <= 0x20))
        return 1;
    if (left >= 2 && u[0] == 0xc2 && (u[1] == 0x85 || u[1] == 0xa0))
        return 2;
    if (left >= 3) {
        if (u[0] == 0xe1 && u[1] == 0x9a && u[2] == 0x80)
            return 3;                                        /* U+1680 */
        if (u[0] == 0xe2 && u[1] == 0x80 &&
            (u[2] <= 0x8a || u[2] == 0xa8 || u[2] == 0xa9 || u[2] == 0xaf) && u[2] >= 0x80)
            return 3;                                        /* U+2000..200A, 2028, 2029, 202F */
        if (u[0] == 0xe2 && u[1] == 0x81 && u[2] == 0x9f)
            return 3;                                        /* U+205F */
        if (u[0] == 0xe3 && u[1] == 0x80 && u[2] == 0x80)
            return 3;                                        /* U+3000 */
    }
    return 0;
}

/* Length of the whitespace character that ends just before s.p + end, or 0.
 * UTF-8 is self-synchronising: a lead byte found 1-3 bytes back that decodes
 * to whitespace spanning exactly to `end` is that character. */
static size_t space_before(str_t s, size_t end)
{
    for (size_t k = 1; k <= 3 && k <= end; k++) {
        str_t t = {s.p, end};
        if (space_at(t, end - k) == k)
            return k;
    }
    return 0;
}

static str_t strip(str_t s)                      /* Jinja |trim = str.strip() */
{
    size_t k;
    while ((k = space_at(s, 0)) > 0) {
        s.p += k;
        s.n -= k;
    }
    while ((k = space_before(s, s.n)) > 0)
        s.n -= k;
    return s;
}

static str_t lstrip_nl(str_t s)                  /* str.lstrip('\n') */
{
    while (s.n > 0 && s.p[0] == '\n') {
        s.p++;
        s.n--;
    }
    return s;
}

static str_t rstrip_nl(str_t s)                  /* str.rstrip('\n') */
{
    while (s.n > 0 && s.p[s.n - 1] == '\n')
        s.n--;
    return s;
}

/* ---- output: counts every byte, stores what fits -------------------------- */

typedef struct {
    char *buf;
    size_t cap;
    size_t len;                                  /* bytes produced so far */
} writer;

static void put_n(writer *w, const char *s, size_t n)
{
    if (w->len < w->cap) {
        size_t room = w->cap - w->len;
        memcpy(w->buf + w->len, s, n < room ? n : room);
    }
    w->len += n;
}

static void put(writer *w, const char *s) { put_n(w, s, strlen(s)); }
static void put_str(writer *w, str_t s) { put_n(w, s.p, s.n); }

/* ---- the template ---------------------------------------------------------- */

static const char TOOLS_HEAD[] =
    "# Tools\n\nYou have access to the following functions:\n\n<tools>";

static const char TOOLS_TAIL[] =
    "\n</tools>"
    "\n\nIf you choose to call a function ONLY reply in the following format with NO suffix:"
    "\n\n<tool_call>\n<function=example_function_name>\n<parameter=example_parameter_1>\nvalue_1"
    "\n</parameter>\n<parameter=example_parameter_2>\nThis is the value for the second parameter"
    "\nthat can span\nmultiple lines\n</parameter>\n</function>\n</tool_call>\n\n<IMPORTANT>"
    "\nReminder:\n- Function calls MUST follow the specified format: an inner <function=...></function>"
    " block must be nested within <tool_call></tool_call> XML tags"
    "\n- Required parameters MUST be specified"
    "\n- You may provide optional reasoning for your function call in natural language BEFORE the"
    " function call, but NOT after"
    "\n- If there is no function call available, answer the question like normal with your current"
    " knowledge and do not tell the user about function calls\n</IMPORTANT>";

ag_chat_options ag_chat_default_options(void)
{
    ag_chat_options o;
    memset(&o, 0, sizeof(o));
    o.size = sizeof(o);
    o.add_generation_prompt = true;
    o.enable_thinking = false;
    o.tools_json = NULL;
    o.n_tools = 0;
    return o;
}

/* Checks the pointers the template would dereference; the template itself
 * cannot meet NULL, so these are argument errors rather than template errors. */
static ag_status check_args(const ag_chat_message *msgs, size_t n_msgs, const ag_chat_options *o)
{
    if (n_msgs > 0 && !msgs)
        return ag_fail(AG_ERR_INVALID_ARG, "chat: msgs is NULL with n_msgs = %zu", n_msgs);
    if (o->n_tools > 0 && !o->tools_json)
        return ag_fail(AG_ERR_INVALID_ARG, "chat: tools_json is NULL with n_tools = %zu", o->n_tools);
    for (size_t i = 0; i < o->n_tools; i++)
        if (!o->tools_json[i])
            return ag_fail(AG_ERR_INVALID_ARG, "chat: tools_json[%zu] is NULL", i);
    for (size_t i = 0; i < n_msgs; i++) {
        const ag_chat_message *m = &msgs[i];
        if (m->n_tool_calls > 0 && !m->tool_calls)
            return ag_fail(AG_ERR_INVALID_ARG,
                           "chat: message %zu: tool_calls is NULL with n_tool_calls = %zu", i,
                           m->n_tool_calls);
        for (size_t j = 0; j < m->n_tool_calls; j++) {
            const ag_chat_tool_call *tc = &m->tool_calls[j];
            if (!tc->name)
                return ag_fail(AG_ERR_INVALID_ARG, "chat: message %zu: tool call %zu: name is NULL",
                               i, j);
            if (tc->n_params > 0 && !tc->params)
                return ag_fail(AG_ERR_INVALID_ARG,
                               "chat: message %zu: tool call %zu: params is NULL with n_params = %zu",
                               i, j, tc->n_params);
            for (size_t k = 0; k < tc->n_params; k++)
                if (!tc->params[k].name)
                    return ag_fail(AG_ERR_INVALID_ARG,
                                   "chat: message %zu: tool call %zu: parameter %zu: name is NULL",
                                   i, j, k);
        }
    }
    return AG_OK;
}

/* The user turn the model answers: the last user message whose trimmed content
 * is not a bare <tool_response>...</tool_response> wrapper (ns.last_query_index). */
static ag_status last_query_index(const ag_chat_message *msgs, size_t n_msgs, size_t *out)
{
    for (size_t i = n_msgs; i-- > 0;) {
        if (!str_eq(msgs[i].role, "user"))
            continue;
        str_t c = strip(str_of(msgs[i].content));
        if (!(starts_with(c, "<tool_response>") && ends_with(c, "</tool_response>"))) {
            *out = i;
            return AG_OK;
        }
    }
    return ag_fail(AG_ERR_INVALID_ARG, "chat: no user query found in messages");
}

/* {% elif message.role == "assistant" %} ... */
static void render_assistant(writer *w, const ag_chat_message *m, bool after_query)
{
    str_t content = strip(str_of(m->content));
    str_t reasoning = {"", 0};
    if (m->reasoning) {
        reasoning = str_of(m->reasoning);
    } else if (find(content, "</think>", false) >= 0) {
        /* content.split('</think>')[0].rstrip('\n').split('<think>')[-1].lstrip('\n') */
        str_t r = {content.p, (size_t)find(content, "</think>", false)};
        r = rstrip_nl(r);
        long open = find(r, "<think>", true);
        if (open >= 0) {
            r.p += open + 7;
            r.n -= (size_t)open + 7;
        }
        reasoning = lstrip_nl(r);
        /* content.split('</think>')[-1].lstrip('\n') */
        size_t close = (size_t)find(content, "</think>", true) + 8;
        content.p += close;
        content.n -= close;
        content = lstrip_nl(content);
    }
    reasoning = strip(reasoning);

    put(w, "<|im_start|>assistant\n");
    if (after_query) {
        put(w, "<think>\n");
        put_str(w, reasoning);
        put(w, "\n</think>\n\n");
    }
    put_str(w, content);

    for (size_t j = 0; j < m->n_tool_calls; j++) {
        const ag_chat_tool_call *tc = &m->tool_calls[j];
        if (j == 0)
            put(w, strip(content).n > 0 ? "\n\n<tool_call>\n<function=" : "<tool_call>\n<function=");
        else
            put(w, "\n<tool_call>\n<function=");
        put(w, tc->name);
        put(w, ">\n");
        for (size_t k = 0; k < tc->n_params; k++) {
            put(w, "<parameter=");
            put(w, tc->params[k].name);
            put(w, ">\n");
            put_str(w, str_of(tc->params[k].value));
            put(w, "\n</parameter>\n");
        }
        put(w, "</function>\n</tool_call>");
    }
    put(w, "<|im_end|>\n");
}

ag_status ag_chat_render(const ag_chat_message *msgs, size_t n_msgs, const ag_chat_options *opt,
                         char *buf, size_t cap, size_t *n_out)
{
    ag_chat_options o = ag_chat_default_options();
    if (opt) {
        if (opt->size < sizeof(uint32_t))
            return ag_fail(AG_ERR_INVALID_ARG, "chat: options.size = %u is too small",
                           (unsigned)opt->size);
        memcpy(&o, opt, opt->size < sizeof(o) ? opt->size : sizeof(o));
        o.size = sizeof(o);
    }
    if (!buf && cap > 0)
        return ag_fail(AG_ERR_INVALID_ARG, "chat: buf is NULL with cap = %zu", cap);
    ag_status st = check_args(msgs, n_msgs, &o);
    if (st != AG_OK)
        return st;

    /* {% if not messages %} raise */
    if (n_msgs == 0)
        return ag_fail(AG_ERR_INVALID_ARG, "chat: no messages provided");

    writer w = {buf, cap, 0};
    bool first_is_system = str_eq(msgs[0].role, "system");

    /* tools block, or the plain system turn */
    if (o.n_tools > 0) {
        put(&w, "<|im_start|>system\n");
        put(&w, TOOLS_HEAD);
        for (size_t i = 0; i < o.n_tools; i++) {
            put(&w, "\n");
            put(&w, o.tools_json[i]);
        }
        put(&w, TOOLS_TAIL);
        if (first_is_system) {
            str_t c = strip(str_of(msgs[0].content));
            if (c.n > 0) {
                put(&w, "\n\n");
                put_str(&w, c);
            }
        }
        put(&w, "<|im_end|>\n");
    } else if (first_is_system) {
        put(&w, "<|im_start|>system\n");
        put_str(&w, strip(str_of(msgs[0].content)));
        put(&w, "<|im_end|>\n");
    }

    size_t query = 0;
    if ((st = last_query_index(msgs, n_msgs, &query)) != AG_OK)
        return st;

    for (size_t i = 0; i < n_msgs; i++) {
        const ag_chat_message *m = &msgs[i];
        if (str_eq(m->role, "system")) {
            if (i != 0)
                return ag_fail(AG_ERR_INVALID_ARG,
                               "chat: message %zu: system message must be at the beginning", i);
        } else if (str_eq(m->role, "user")) {
            put(&w, "<|im_start|>user\n");
            put_str(&w, strip(str_of(m->content)));
            put(&w, "<|im_end|>\n");
        } else if (str_eq(m->role, "assistant")) {
            render_assistant(&w, m, i > query);
        } else if (str_eq(m->role, "tool")) {
            /* loop.previtem is undefined for the first message: no user turn opened */
            if (i > 0 && !str_eq(msgs[i - 1].role, "tool"))
                put(&w, "<|im_start|>user");
            put(&w, "\n<tool_response>\n");
            put_str(&w, strip(str_of(m->content)));
            put(&w, "\n</tool_response>");
            if (i + 1 == n_msgs || !str_eq(msgs[i + 1].role, "tool"))
                put(&w, "<|im_end|>\n");
        } else if (m->role) {
            return ag_fail(AG_ERR_INVALID_ARG, "chat: message %zu: unexpected role '%.64s'", i,
                           m->role);
        } else {
            return ag_fail(AG_ERR_INVALID_ARG, "chat: message %zu: role is NULL", i);
        }
    }

    if (o.add_generation_prompt) {
        put(&w, "<|im_start|>assistant\n");
        put(&w, o.enable_thinking ? "<think>\n" : "<think>\n\n</think>\n\n");
    }

    if (n_out)
        *n_out = w.len;
    if (w.len >= cap) {
        if (cap > 0)
            buf[cap - 1] = '\0';
        return ag_fail(AG_ERR_BUFFER_TOO_SMALL, "chat: rendered prompt needs %zu bytes + NUL, cap is %zu",
                       w.len, cap);
    }
    buf[w.len] = '\0';
    return AG_OK;
}
