#!/usr/bin/env python3
"""diff_chat_jinja.py: dev-time differential test of ag_chat_render against Jinja2.

Generates random conversations (tricky whitespace, stray <think>/</think> and
<tool_response> tags, NULL contents, tool calls, bad roles), renders each with
the template through gen_chat_expected.render(), and writes a C program that
renders the same conversations with ag_chat_render and compares byte for byte
(template errors must be AG_ERR_INVALID_ARG). Needs jinja2. Usage, from the
repository root:
    python3 tests/chat/diff_chat_jinja.py SEED COUNT > /tmp/d.c
    cc -std=c11 -D_GNU_SOURCE -Iinclude -Isrc /tmp/d.c src/chat/chat.c src/core/status.c -o /tmp/d && /tmp/d
"""
import os
import random, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_chat_expected import render, TemplateError, WEATHER, SEARCH, tojson

def cstr(s):
    if s is None: return "NULL"
    return '"' + "".join(c if (0x20 <= ord(c) < 0x7f and c not in '\\"?') else "".join("\\x%02x\"\"" % b for b in c.encode()) for c in s) + '"'

PIECES = ["", " ", "\n", "\n\n", "\t", "\u3000", "\u00a0", "\u2028", "<think>", "</think>", "<tool_response>",
          "</tool_response>", "a", "b c", "x\ny", "é", "\u200b"]
def rtext(r):
    if r.random() < 0.1: return None
    return "".join(r.choice(PIECES) for _ in range(r.randint(0, 6)))

r = random.Random(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
cases = []
for ci in range(int(sys.argv[2]) if len(sys.argv) > 2 else 400):
    n = r.randint(0, 7)
    msgs = []
    for i in range(n):
        role = r.choices(["system", "user", "assistant", "tool", "bogus"], [2 if i == 0 else 0.1, 4, 4, 3, 0.1])[0]
        m = {"role": role, "content": rtext(r)}
        if role == "user" and r.random() < 0.2:
            m["content"] = r.choice(["", " "]) + "<tool_response>" + (rtext(r) or "") + "</tool_response>" + r.choice(["", "\n"])
        if role == "assistant":
            if r.random() < 0.3: m["reasoning_content"] = rtext(r) or ""
            if r.random() < 0.4:
                tcs = []
                for _ in range(r.randint(0, 3)):
                    args = {}
                    for k in range(r.randint(0, 3)):
                        args["p%d" % k] = rtext(r) or ""
                    tcs.append({"type": "function", "function": {"name": r.choice(["f", "get_x", "g h"]), "arguments": args}})
                m["tool_calls"] = tcs
        msgs.append(m)
    tools = r.choice([None, [WEATHER], [WEATHER, SEARCH]])
    agp = r.random() < 0.7
    think = r.choice([None, True, False])
    try:
        out = render(msgs, tools=tools, add_generation_prompt=agp, enable_thinking=think)
    except TemplateError:
        out = None
    cases.append((msgs, tools, agp, bool(think), out))

print('#include "airgap.h"\n#include <stdio.h>\n#include <string.h>\n#include <stdlib.h>')
print('static int fails;')
print('static void run(int ci, const ag_chat_message *m, size_t n, const char **tools, size_t nt, int agp, int th, const char *want) {')
print(' ag_chat_options o = ag_chat_default_options(); o.tools_json = tools; o.n_tools = nt; o.add_generation_prompt = agp; o.enable_thinking = th;')
print(' size_t need; ag_status st = ag_chat_render(m, n, &o, NULL, 0, &need);')
print(' if (!want) { if (st != AG_ERR_INVALID_ARG) { printf("case %d: expected error, got %d\\n", ci, st); fails++; } return; }')
print(' char *b = malloc(need + 1); st = ag_chat_render(m, n, &o, b, need + 1, &need);')
print(' if (st != AG_OK || strcmp(b, want)) { printf("case %d: mismatch st=%d\\n got=[%s]\\nwant=[%s]\\n", ci, st, b, want); fails++; }')
print(' free(b); }')
print('int main(void) {')
for ci, (msgs, tools, agp, th, out) in enumerate(cases):
    print('{')
    tcdefs = []
    for mi, m in enumerate(msgs):
        for ti, tc in enumerate(m.get("tool_calls", [])):
            args = tc["function"]["arguments"]
            if args:
                print(' static const ag_chat_param p%d_%d[] = {%s};' % (mi, ti, ", ".join("{%s, %s}" % (cstr(k), cstr(v)) for k, v in args.items())))
        if m.get("tool_calls"):
            print(' static const ag_chat_tool_call t%d[] = {%s};' % (mi, ", ".join("{%s, %s, %d}" % (cstr(tc["function"]["name"]), ("p%d_%d" % (mi, ti)) if tc["function"]["arguments"] else "NULL", len(tc["function"]["arguments"])) for ti, tc in enumerate(m["tool_calls"]))))
    if msgs:
        print(' static const ag_chat_message m[] = {%s};' % ", ".join("{%s, %s, %s, %s, %d}" % (cstr(m["role"]), cstr(m["content"]), cstr(m["reasoning_content"]) if "reasoning_content" in m else "NULL", ("t%d" % mi) if m.get("tool_calls") else "NULL", len(m.get("tool_calls", []))) for mi, m in enumerate(msgs)))
    tl = [tojson(t) for t in (tools or [])]
    if tl:
        print(' static const char *tl[] = {%s};' % ", ".join(cstr(t) for t in tl))
    print(' run(%d, %s, %d, %s, %d, %d, %d, %s);' % (ci, "m" if msgs else "NULL", len(msgs), "tl" if tl else "NULL", len(tl), agp, th, cstr(out)))
    print('}')
print(' printf("%d cases, %d failures\\n", ' + str(len(cases)) + ', fails); return fails != 0; }')
