/* test_chat.c: ag_chat_render against the Qwen3.5 template, byte for byte.
 *
 * The EXP_* literals were produced by gen_chat_expected.py (next to this file):
 * Jinja2 3.1 running fixtures/templates/Qwen3.5-4B.jinja as HF does
 * (trim_blocks, lstrip_blocks, HF's tojson) with the small-model thinking
 * guard (spec 6.3). The spec's own 6.2 examples are also checked against
 * literals typed from the spec text, independently of the generator. */
#include "airgap.h"
#include "harness.h"

#include <stdlib.h>
#include <string.h>

static const char EXP_two_turn[] =
    "<|im_start|>system\n"
    "You are a helpful assistant.<|im_end|>\n"
    "<|im_start|>user\n"
    "Hello!<|im_end|>\n"
    "<|im_start|>assistant\n"
    "Hi! How can I help you today?<|im_end|>\n"
    "<|im_start|>user\n"
    "What is 2+2?<|im_end|>\n"
    "<|im_start|>assistant\n"
    "<think>\n"
    "\n"
    "</think>\n"
    "\n";

static const char EXP_two_turn_think[] =
    "<|im_start|>system\n"
    "You are a helpful assistant.<|im_end|>\n"
    "<|im_start|>user\n"
    "Hello!<|im_end|>\n"
    "<|im_start|>assistant\n"
    "Hi! How can I help you today?<|im_end|>\n"
    "<|im_start|>user\n"
    "What is 2+2?<|im_end|>\n"
    "<|im_start|>assistant\n"
    "<think>\n";

static const char EXP_after_query[] =
    "<|im_start|>system\n"
    "You are a helpful assistant.<|im_end|>\n"
    "<|im_start|>user\n"
    "Hello!<|im_end|>\n"
    "<|im_start|>assistant\n"
    "Hi! How can I help you today?<|im_end|>\n"
    "<|im_start|>user\n"
    "What is 2+2?<|im_end|>\n"
    "<|im_start|>assistant\n"
    "<think>\n"
    "2 plus 2 is 4.\n"
    "</think>\n"
    "\n"
    "2 + 2 = 4.<|im_end|>\n";

static const char EXP_rerendered[] =
    "<|im_start|>system\n"
    "You are a helpful assistant.<|im_end|>\n"
    "<|im_start|>user\n"
    "Hello!<|im_end|>\n"
    "<|im_start|>assistant\n"
    "Hi! How can I help you today?<|im_end|>\n"
    "<|im_start|>user\n"
    "What is 2+2?<|im_end|>\n"
    "<|im_start|>assistant\n"
    "2 + 2 = 4.<|im_end|>\n"
    "<|im_start|>user\n"
    "Thanks!<|im_end|>\n"
    "<|im_start|>assistant\n"
    "<think>\n"
    "\n"
    "</think>\n"
    "\n";

static const char EXP_tool_example[] =
    "<|im_start|>system\n"
    "# Tools\n"
    "\n"
    "You have access to the following functions:\n"
    "\n"
    "<tools>\n"
    "{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Get t"
    "he current weather in a city\", \"parameters\": {\"type\": \"object\", \"properties\": {\"c"
    "ity\": {\"type\": \"string\"}}, \"required\": [\"city\"]}}}\n"
    "</tools>\n"
    "\n"
    "If you choose to call a function ONLY reply in the following format with NO suffix:\n"
    "\n"
    "<tool_call>\n"
    "<function=example_function_name>\n"
    "<parameter=example_parameter_1>\n"
    "value_1\n"
    "</parameter>\n"
    "<parameter=example_parameter_2>\n"
    "This is the value for the second parameter\n"
    "that can span\n"
    "multiple lines\n"
    "</parameter>\n"
    "</function>\n"
    "</tool_call>\n"
    "\n"
    "<IMPORTANT>\n"
    "Reminder:\n"
    "- Function calls MUST follow the specified format: an inner <function=...></function> block"
    " must be nested within <tool_call></tool_call> XML tags\n"
    "- Required parameters MUST be specified\n"
    "- You may provide optional reasoning for your function call in natural language BEFORE the "
    "function call, but NOT after\n"
    "- If there is no function call available, answer the question like normal with your current"
    " knowledge and do not tell the user about function calls\n"
    "</IMPORTANT><|im_end|>\n"
    "<|im_start|>user\n"
    "Weather in Paris?<|im_end|>\n"
    "<|im_start|>assistant\n"
    "<think>\n"
    "\n"
    "</think>\n"
    "\n"
    "<tool_call>\n"
    "<function=get_weather>\n"
    "<parameter=city>\n"
    "Paris\n"
    "</parameter>\n"
    "</function>\n"
    "</tool_call><|im_end|>\n"
    "<|im_start|>user\n"
    "<tool_response>\n"
    "{\"temp\": 21}\n"
    "</tool_response><|im_end|>\n"
    "<|im_start|>assistant\n"
    "<think>\n"
    "\n"
    "</think>\n"
    "\n";

static const char EXP_multi_calls[] =
    "<|im_start|>system\n"
    "# Tools\n"
    "\n"
    "You have access to the following functions:\n"
    "\n"
    "<tools>\n"
    "{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Get t"
    "he current weather in a city\", \"parameters\": {\"type\": \"object\", \"properties\": {\"c"
    "ity\": {\"type\": \"string\"}}, \"required\": [\"city\"]}}}\n"
    "{\"type\": \"function\", \"function\": {\"name\": \"search\", \"description\": \"Search the"
    " web\", \"parameters\": {\"type\": \"object\", \"properties\": {\"query\": {\"type\": \"str"
    "ing\"}, \"limit\": {\"type\": \"integer\"}}, \"required\": [\"query\"]}}}\n"
    "</tools>\n"
    "\n"
    "If you choose to call a function ONLY reply in the following format with NO suffix:\n"
    "\n"
    "<tool_call>\n"
    "<function=example_function_name>\n"
    "<parameter=example_parameter_1>\n"
    "value_1\n"
    "</parameter>\n"
    "<parameter=example_parameter_2>\n"
    "This is the value for the second parameter\n"
    "that can span\n"
    "multiple lines\n"
    "</parameter>\n"
    "</function>\n"
    "</tool_call>\n"
    "\n"
    "<IMPORTANT>\n"
    "Reminder:\n"
    "- Function calls MUST follow the specified format: an inner <function=...></function> block"
    " must be nested within <tool_call></tool_call> XML tags\n"
    "- Required parameters MUST be specified\n"
    "- You may provide optional reasoning for your function call in natural language BEFORE the "
    "function call, but NOT after\n"
    "- If there is no function call available, answer the question like normal with your current"
    " knowledge and do not tell the user about function calls\n"
    "</IMPORTANT>\n"
    "\n"
    "Be brief.<|im_end|>\n"
    "<|im_start|>user\n"
    "Weather in Paris and news about it?<|im_end|>\n"
    "<|im_start|>assistant\n"
    "<think>\n"
    "Need two tools.\n"
    "</think>\n"
    "\n"
    "Let me check both.\n"
    "\n"
    "<tool_call>\n"
    "<function=get_weather>\n"
    "<parameter=city>\n"
    "Paris\n"
    "</parameter>\n"
    "</function>\n"
    "</tool_call>\n"
    "<tool_call>\n"
    "<function=search>\n"
    "<parameter=query>\n"
    "Paris news\n"
    "this week\n"
    "</parameter>\n"
    "<parameter=limit>\n"
    "3\n"
    "</parameter>\n"
    "<parameter=tags>\n"
    "[\"a\", \"b\"]\n"
    "</parameter>\n"
    "<parameter=opts>\n"
    "{\"x\": 1}\n"
    "</parameter>\n"
    "</function>\n"
    "</tool_call><|im_end|>\n"
    "<|im_start|>user\n"
    "<tool_response>\n"
    "{\"temp\": 21}\n"
    "</tool_response>\n"
    "<tool_response>\n"
    "Headline one.\n"
    "</tool_response><|im_end|>\n"
    "<|im_start|>assistant\n"
    "<think>\n"
    "\n"
    "</think>\n"
    "\n"
    "It is 21 degrees.\n"
    "\n"
    "<tool_call>\n"
    "<function=search>\n"
    "<parameter=query>\n"
    "more\n"
    "</parameter>\n"
    "</function>\n"
    "</tool_call><|im_end|>\n"
    "<|im_start|>user\n"
    "<tool_response>\n"
    "nothing\n"
    "</tool_response><|im_end|>\n"
    "<|im_start|>assistant\n"
    "<think>\n";

static const char EXP_think_split[] =
    "<|im_start|>user\n"
    "Q1<|im_end|>\n"
    "<|im_start|>assistant\n"
    "Old answer.<|im_end|>\n"
    "<|im_start|>user\n"
    "Q2<|im_end|>\n"
    "<|im_start|>assistant\n"
    "<think>\n"
    "Let me think.\n"
    "</think>\n"
    "\n"
    "The answer.<|im_end|>\n"
    "<|im_start|>assistant\n"
    "<think>\n"
    "c\n"
    "</think>\n"
    "\n"
    " y<|im_end|>\n"
    "<|im_start|>assistant\n"
    "<think>\n"
    "no open tag\n"
    "</think>\n"
    "\n"
    "after<|im_end|>\n"
    "<|im_start|>assistant\n"
    "<think>\n"
    "given\n"
    "</think>\n"
    "\n"
    "kept <think>inline</think><|im_end|>\n";

static const char EXP_tool_first[] =
    "\n"
    "<tool_response>\n"
    "orphan\n"
    "</tool_response><|im_end|>\n"
    "<|im_start|>user\n"
    "hi<|im_end|>\n"
    "<|im_start|>assistant\n"
    "<think>\n"
    "\n"
    "</think>\n"
    "\n";

static const char EXP_wrapped_user[] =
    "<|im_start|>user\n"
    "real question<|im_end|>\n"
    "<|im_start|>assistant\n"
    "<think>\n"
    "\n"
    "</think>\n"
    "\n"
    "calling\n"
    "\n"
    "<tool_call>\n"
    "<function=f>\n"
    "</function>\n"
    "</tool_call><|im_end|>\n"
    "<|im_start|>user\n"
    "<tool_response>\n"
    "r\n"
    "</tool_response><|im_end|>\n"
    "<|im_start|>assistant\n"
    "<think>\n"
    "\n"
    "</think>\n"
    "\n"
    "done<|im_end|>\n";

static const char EXP_tools_empty_system[] =
    "<|im_start|>system\n"
    "# Tools\n"
    "\n"
    "You have access to the following functions:\n"
    "\n"
    "<tools>\n"
    "{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Get t"
    "he current weather in a city\", \"parameters\": {\"type\": \"object\", \"properties\": {\"c"
    "ity\": {\"type\": \"string\"}}, \"required\": [\"city\"]}}}\n"
    "</tools>\n"
    "\n"
    "If you choose to call a function ONLY reply in the following format with NO suffix:\n"
    "\n"
    "<tool_call>\n"
    "<function=example_function_name>\n"
    "<parameter=example_parameter_1>\n"
    "value_1\n"
    "</parameter>\n"
    "<parameter=example_parameter_2>\n"
    "This is the value for the second parameter\n"
    "that can span\n"
    "multiple lines\n"
    "</parameter>\n"
    "</function>\n"
    "</tool_call>\n"
    "\n"
    "<IMPORTANT>\n"
    "Reminder:\n"
    "- Function calls MUST follow the specified format: an inner <function=...></function> block"
    " must be nested within <tool_call></tool_call> XML tags\n"
    "- Required parameters MUST be specified\n"
    "- You may provide optional reasoning for your function call in natural language BEFORE the "
    "function call, but NOT after\n"
    "- If there is no function call available, answer the question like normal with your current"
    " knowledge and do not tell the user about function calls\n"
    "</IMPORTANT><|im_end|>\n"
    "<|im_start|>user\n"
    "x<|im_end|>\n"
    "<|im_start|>assistant\n"
    "<think>\n"
    "\n"
    "</think>\n"
    "\n";

static const char EXP_empty_system[] =
    "<|im_start|>system\n"
    "<|im_end|>\n"
    "<|im_start|>user\n"
    "hi<|im_end|>\n"
    "<|im_start|>assistant\n"
    "<think>\n"
    "\n"
    "</think>\n"
    "\n";

static const char EXP_null_contents[] =
    "<|im_start|>user\n"
    "<|im_end|>\n"
    "<|im_start|>assistant\n"
    "<think>\n"
    "\n"
    "</think>\n"
    "\n"
    "<tool_call>\n"
    "<function=f>\n"
    "<parameter=a>\n"
    "1\n"
    "</parameter>\n"
    "</function>\n"
    "</tool_call><|im_end|>\n"
    "<|im_start|>user\n"
    "<tool_response>\n"
    "\n"
    "</tool_response><|im_end|>\n"
    "<|im_start|>assistant\n"
    "<think>\n"
    "\n"
    "</think>\n"
    "\n";


/* The spec's 6.2 example, typed from the spec text (thinking off). */
static const char SPEC_two_turn[] =
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello!<|im_end|>\n"
    "<|im_start|>assistant\nHi! How can I help you today?<|im_end|>\n<|im_start|>user\nWhat is "
    "2+2?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n";
static const char SPEC_after_query_turn[] =
    "<|im_start|>assistant\n<think>\n2 plus 2 is 4.\n</think>\n\n2 + 2 = 4.<|im_end|>\n";

static const char WEATHER_JSON[] =
    "{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Get the "
    "current weather in a city\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": "
    "{\"type\": \"string\"}}, \"required\": [\"city\"]}}}";
static const char SEARCH_JSON[] =
    "{\"type\": \"function\", \"function\": {\"name\": \"search\", \"description\": \"Search the "
    "web\", \"parameters\": {\"type\": \"object\", \"properties\": {\"query\": {\"type\": \"string\"}, "
    "\"limit\": {\"type\": \"integer\"}}, \"required\": [\"query\"]}}}";

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const ag_chat_message SYS = {"system", "You are a helpful assistant.", NULL, NULL, 0};
static const ag_chat_message U1 = {"user", "Hello!", NULL, NULL, 0};
static const ag_chat_message A1 = {"assistant", "Hi! How can I help you today?", NULL, NULL, 0};
static const ag_chat_message U2 = {"user", "What is 2+2?", NULL, NULL, 0};
static const ag_chat_message A2 = {"assistant", "2 + 2 = 4.", "2 plus 2 is 4.", NULL, 0};
static const ag_chat_message U3 = {"user", "Thanks!", NULL, NULL, 0};

/* Renders through the size query first, then into an exact buffer, and
 * compares with want; on mismatch prints where the two diverge. */
static void expect_render(const char *name, const ag_chat_message *m, size_t n,
                          const ag_chat_options *o, const char *want)
{
    size_t need = 12345;
    ag_status st = ag_chat_render(m, n, o, NULL, 0, &need);
    CHECK(st == AG_ERR_BUFFER_TOO_SMALL, "%s: size query gives status %d", name, (int)st);
    CHECK(need == strlen(want), "%s: size query says %zu, want %zu", name, need, strlen(want));
    char *buf = malloc(need + 1);
    size_t got = 0;
    st = ag_chat_render(m, n, o, buf, need + 1, &got);
    CHECK(st == AG_OK, "%s: status %d (%s)", name, (int)st, ag_last_error());
    if (st == AG_OK) {
        CHECK(got == strlen(buf), "%s: n_out %zu but strlen %zu", name, got, strlen(buf));
        if (strcmp(buf, want) != 0) {
            size_t i = 0;
            while (buf[i] && buf[i] == want[i])
                i++;
            CHECK(0, "%s: output differs at byte %zu:\n got: [%.60s]\nwant: [%.60s]", name, i,
                  buf + i, want + i);
        }
    }
    free(buf);
}

static void expect_error(const char *name, const ag_chat_message *m, size_t n, const char *what)
{
    char buf[4096];
    size_t got = 0;
    ag_status st = ag_chat_render(m, n, NULL, buf, sizeof(buf), &got);
    CHECK(st == AG_ERR_INVALID_ARG, "%s: status %d, want INVALID_ARG", name, (int)st);
    CHECK(strstr(ag_last_error(), what) != NULL, "%s: detail '%s' lacks '%s'", name,
          ag_last_error(), what);
}

static void test_spec_examples(void)
{
    ag_chat_options o = ag_chat_default_options();
    CHECK(o.size == sizeof(o) && o.add_generation_prompt && !o.enable_thinking && o.n_tools == 0,
          "default options");
    CHECK(strcmp(EXP_two_turn, SPEC_two_turn) == 0, "generator agrees with the spec text");

    const ag_chat_message two[] = {SYS, U1, A1, U2};
    expect_render("two_turn", two, N(two), NULL, SPEC_two_turn);
    expect_render("two_turn default opts", two, N(two), &o, EXP_two_turn);

    o.enable_thinking = true;
    expect_render("two_turn_think", two, N(two), &o, EXP_two_turn_think);
    size_t nl = strlen(EXP_two_turn_think);
    CHECK(nl > 30 && strcmp(EXP_two_turn_think + nl - 30, "<|im_start|>assistant\n<think>\n") == 0,
          "thinking-on prompt ending");

    const ag_chat_message after[] = {SYS, U1, A1, U2, A2};
    o = ag_chat_default_options();
    o.add_generation_prompt = false;
    expect_render("after_query", after, N(after), &o, EXP_after_query);
    size_t tl = strlen(SPEC_after_query_turn), al = strlen(EXP_after_query);
    CHECK(al > tl && strcmp(EXP_after_query + al - tl, SPEC_after_query_turn) == 0,
          "after-query turn as the spec shows it");

    const ag_chat_message re[] = {SYS, U1, A1, U2, A2, U3};
    expect_render("rerendered", re, N(re), NULL, EXP_rerendered);
    CHECK(strstr(EXP_rerendered, "<|im_start|>assistant\n2 + 2 = 4.<|im_end|>\n") != NULL,
          "re-rendered without the think block");
}

static void test_tools(void)
{
    const char *tools1[] = {WEATHER_JSON};
    const char *tools2[] = {WEATHER_JSON, SEARCH_JSON};
    ag_chat_options o = ag_chat_default_options();

    /* spec 6.2 tool example */
    const ag_chat_param city = {"city", "Paris"};
    const ag_chat_tool_call weather = {"get_weather", &city, 1};
    const ag_chat_message ex[] = {
        {"user", "Weather in Paris?", NULL, NULL, 0},
        {"assistant", "", NULL, &weather, 1},
        {"tool", "{\"temp\": 21}", NULL, NULL, 0},
    };
    o.tools_json = tools1;
    o.n_tools = 1;
    expect_render("tool_example", ex, N(ex), &o, EXP_tool_example);

    /* multiple calls, multiple params (strings raw, others as JSON),
     * consecutive tool messages sharing one user turn, system after tools */
    const ag_chat_param search_p[] = {
        {"query", "Paris news\nthis week"}, {"limit", "3"}, {"tags", "[\"a\", \"b\"]"},
        {"opts", "{\"x\": 1}"},
    };
    const ag_chat_tool_call calls[] = {{"get_weather", &city, 1}, {"search", search_p, 4}};
    const ag_chat_param more = {"query", "more"};
    const ag_chat_tool_call call2 = {"search", &more, 1};
    const ag_chat_message mc[] = {
        {"system", "  Be brief.\n", NULL, NULL, 0},
        {"user", "Weather in Paris and news about it?", NULL, NULL, 0},
        {"assistant", "Let me check both.", "\nNeed two tools.\n", calls, 2},
        {"tool", "{\"temp\": 21}", NULL, NULL, 0},
        {"tool", "  Headline one.\n", NULL, NULL, 0},
        {"assistant", "It is 21 degrees.", NULL, &call2, 1},
        {"tool", "nothing", NULL, NULL, 0},
    };
    o.tools_json = tools2;
    o.n_tools = 2;
    o.enable_thinking = true;
    expect_render("multi_calls", mc, N(mc), &o, EXP_multi_calls);

    /* whitespace-only system message is not appended to the tools block */
    const ag_chat_message es[] = {{"system", " \n ", NULL, NULL, 0}, {"user", "x", NULL, NULL, 0}};
    o = ag_chat_default_options();
    o.tools_json = tools1;
    o.n_tools = 1;
    expect_render("tools_empty_system", es, N(es), &o, EXP_tools_empty_system);
    /* n_tools = 0 with a pointer set: no tools block */
    o.n_tools = 0;
    ag_chat_message es2[] = {{"system", NULL, NULL, NULL, 0},
                             {"user", "\xe3\x80\x80 hi\xc2\xa0\xe2\x80\x89\n", NULL, NULL, 0}};
    expect_render("empty_system", es2, N(es2), &o, EXP_empty_system);

    /* a user message that is a bare tool_response wrapper is not the query */
    const ag_chat_tool_call f = {"f", NULL, 0};
    const ag_chat_message wu[] = {
        {"user", "real question", NULL, NULL, 0},
        {"assistant", "calling", NULL, &f, 1},
        {"user", "  <tool_response>\nr\n</tool_response>\n", NULL, NULL, 0},
        {"assistant", "done", NULL, NULL, 0},
    };
    o = ag_chat_default_options();
    o.add_generation_prompt = false;
    expect_render("wrapped_user", wu, N(wu), &o, EXP_wrapped_user);

    /* a tool message first has no previous item: no <|im_start|>user */
    const ag_chat_message tf[] = {{"tool", "orphan", NULL, NULL, 0}, {"user", "hi", NULL, NULL, 0}};
    expect_render("tool_first", tf, N(tf), NULL, EXP_tool_first);

    /* NULL content everywhere is the empty string */
    const ag_chat_param a1 = {"a", "1"};
    const ag_chat_tool_call fa = {"f", &a1, 1};
    const ag_chat_message nc[] = {
        {"user", NULL, NULL, NULL, 0}, {"assistant", NULL, NULL, &fa, 1}, {"tool", NULL, NULL, NULL, 0},
    };
    expect_render("null_contents", nc, N(nc), NULL, EXP_null_contents);
}

static void test_think_split(void)
{
    const ag_chat_message ts[] = {
        {"user", "Q1", NULL, NULL, 0},
        {"assistant", "<think>\nold reasoning\n</think>\n\nOld answer.", NULL, NULL, 0},
        {"user", "Q2", NULL, NULL, 0},
        {"assistant", "<think>\n\nLet me think.\n\n</think>\n\nThe answer.", NULL, NULL, 0},
        {"assistant", "a<think>b<think>\n c \n</think>x</think>\n\n y", NULL, NULL, 0},
        {"assistant", "no open tag\n</think>\nafter", NULL, NULL, 0},
        {"assistant", "kept <think>inline</think>", " given ", NULL, 0},
    };
    ag_chat_options o = ag_chat_default_options();
    o.add_generation_prompt = false;
    expect_render("think_split", ts, N(ts), &o, EXP_think_split);
}

static void test_errors(void)
{
    const ag_chat_message nf[] = {U1, SYS};
    const ag_chat_message br[] = {U1, {"bogus", "x", NULL, NULL, 0}};
    const ag_chat_message nr[] = {U1, {NULL, "x", NULL, NULL, 0}};
    const ag_chat_message nq[] = {SYS, A1};
    const ag_chat_message ow[] = {{"user", "<tool_response>x</tool_response>", NULL, NULL, 0}};
    const ag_chat_message bq[] = {{"bogus", "x", NULL, NULL, 0}};
    expect_error("no_messages", NULL, 0, "no messages");
    expect_error("system_not_first", nf, N(nf), "must be at the beginning");
    expect_error("bad_role", br, N(br), "unexpected role 'bogus'");
    expect_error("null_role", nr, N(nr), "role is NULL");
    expect_error("no_query", nq, N(nq), "no user query");
    expect_error("only_wrapped", ow, N(ow), "no user query");
    /* the template looks for the query before it checks roles */
    expect_error("bad_role_no_query", bq, N(bq), "no user query");

    /* pointer errors */
    const ag_chat_tool_call noname = {NULL, NULL, 0};
    const ag_chat_message tc[] = {U1, {"assistant", "x", NULL, &noname, 1}};
    expect_error("tool call without name", tc, N(tc), "name is NULL");
    const ag_chat_message tcn[] = {U1, {"assistant", "x", NULL, NULL, 2}};
    expect_error("tool_calls NULL", tcn, N(tcn), "tool_calls is NULL");
    expect_error("msgs NULL", NULL, 3, "msgs is NULL");
    const char *bad_tools[] = {WEATHER_JSON, NULL};
    ag_chat_options o = ag_chat_default_options();
    o.tools_json = bad_tools;
    o.n_tools = 2;
    char buf[64];
    CHECK(ag_chat_render(&U1, 1, &o, buf, sizeof(buf), NULL) == AG_ERR_INVALID_ARG,
          "NULL tool json");
    CHECK(ag_chat_render(&U1, 1, NULL, NULL, 5, NULL) == AG_ERR_INVALID_ARG, "NULL buf with cap");
}

static void test_buffer_protocol(void)
{
    const ag_chat_message two[] = {SYS, U1, A1, U2};
    size_t want = strlen(EXP_two_turn), n = 0;
    char buf[1024];
    memset(buf, 'X', sizeof(buf));
    CHECK(ag_chat_render(two, N(two), NULL, buf, want, &n) == AG_ERR_BUFFER_TOO_SMALL,
          "cap = length (no room for NUL) is too small");
    CHECK(n == want, "needed %zu, want %zu", n, want);
    CHECK(buf[want - 1] == '\0' && memcmp(buf, EXP_two_turn, want - 1) == 0,
          "too-small output is a NUL-terminated prefix");
    CHECK(ag_chat_render(two, N(two), NULL, buf, 1, &n) == AG_ERR_BUFFER_TOO_SMALL && buf[0] == 0,
          "cap 1");
    memset(buf, 'X', sizeof(buf));
    CHECK(ag_chat_render(two, N(two), NULL, buf, want + 1, &n) == AG_OK, "cap = length + 1 fits");
    CHECK(n == want && buf[want] == '\0' && strcmp(buf, EXP_two_turn) == 0, "exact fit");
    CHECK(ag_chat_render(two, N(two), NULL, buf, sizeof(buf), NULL) == AG_OK, "n_out may be NULL");

    /* options from an older caller: only the fields its size covers are read */
    ag_chat_options old = ag_chat_default_options();
    old.size = (uint32_t)offsetof(ag_chat_options, enable_thinking);
    old.enable_thinking = true;            /* beyond old.size: ignored */
    CHECK(ag_chat_render(two, N(two), &old, buf, sizeof(buf), &n) == AG_OK &&
              strcmp(buf, EXP_two_turn) == 0, "short options struct");
    old.size = 0;
    CHECK(ag_chat_render(two, N(two), &old, buf, sizeof(buf), &n) == AG_ERR_INVALID_ARG,
          "options.size 0");
}

int main(void)
{
    test_spec_examples();
    test_tools();
    test_think_split();
    test_errors();
    test_buffer_protocol();
    return REPORT();
}
