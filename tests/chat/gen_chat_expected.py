#!/usr/bin/env python3
"""gen_chat_expected.py: dev-time generator of the expected strings in test_chat.c.

Renders each test conversation with Jinja2 exactly as HF transformers does
(ImmutableSandboxedEnvironment, trim_blocks + lstrip_blocks, HF's tojson), using
/work/shared/fixtures/templates/Qwen3.5-4B.jinja with the small-model thinking
guard of spec section 6.3 (thinking off unless enable_thinking is true), and
prints the results as C string literals. Needs jinja2 (not needed by the build:
the literals are pasted into test_chat.c). Usage: python3 gen_chat_expected.py
"""
import json
import os
import sys

from jinja2.sandbox import ImmutableSandboxedEnvironment

SHARED = os.environ.get("AG_SHARED_DIR", "/work/shared")
TEMPLATE = os.path.join(SHARED, "fixtures/templates/Qwen3.5-4B.jinja")

BIG_GUARD = """    {%- if enable_thinking is defined and enable_thinking is false %}
        {{- '<think>\\n\\n</think>\\n\\n' }}
    {%- else %}
        {{- '<think>\\n' }}
    {%- endif %}"""
SMALL_GUARD = """    {%- if enable_thinking is defined and enable_thinking is true %}
        {{- '<think>\\n' }}
    {%- else %}
        {{- '<think>\\n\\n</think>\\n\\n' }}
    {%- endif %}"""


class TemplateError(Exception):
    pass


def raise_exception(msg):
    raise TemplateError(msg)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                      sort_keys=sort_keys)


def render(messages, tools=None, add_generation_prompt=True, enable_thinking=None):
    src = open(TEMPLATE, encoding="utf-8").read()
    assert BIG_GUARD in src
    src = src.replace(BIG_GUARD, SMALL_GUARD)
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    kw = dict(messages=messages, tools=tools, add_generation_prompt=add_generation_prompt)
    if enable_thinking is not None:
        kw["enable_thinking"] = enable_thinking
    return env.from_string(src).render(**kw)


def c_literal(s):
    out, line = [], ""
    for ch in s.encode("utf-8"):
        c = chr(ch)
        if c == "\n":
            line += "\\n"
            out.append(line)
            line = ""
            continue
        if c == "\\":
            line += "\\\\"
        elif c == '"':
            line += '\\"'
        elif 0x20 <= ch < 0x7f:
            line += c
        else:
            line += '\\x%02x""' % ch
        if len(line) > 90:
            out.append(line)
            line = ""
    if line or not out:
        out.append(line)
    return "\n".join('    "%s"' % l for l in out)


WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}
SEARCH = {"type": "function", "function": {
    "name": "search", "description": "Search the web",
    "parameters": {"type": "object", "properties": {"query": {"type": "string"},
                                                    "limit": {"type": "integer"}},
                   "required": ["query"]}}}


def call(name, **args):
    return {"type": "function", "function": {"name": name, "arguments": args}}


SYS = {"role": "system", "content": "You are a helpful assistant."}
U1 = {"role": "user", "content": "Hello!"}
A1 = {"role": "assistant", "content": "Hi! How can I help you today?"}
U2 = {"role": "user", "content": "What is 2+2?"}
A2 = {"role": "assistant", "content": "2 + 2 = 4.", "reasoning_content": "2 plus 2 is 4."}
U3 = {"role": "user", "content": "Thanks!"}

CASES = [
    ("two_turn", dict(messages=[SYS, U1, A1, U2])),
    ("two_turn_think", dict(messages=[SYS, U1, A1, U2], enable_thinking=True)),
    ("after_query", dict(messages=[SYS, U1, A1, U2, A2], add_generation_prompt=False)),
    ("rerendered", dict(messages=[SYS, U1, A1, U2, A2, U3])),
    ("tool_example", dict(messages=[
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [call("get_weather", city="Paris")]},
        {"role": "tool", "content": '{"temp": 21}'}], tools=[WEATHER])),
    ("multi_calls", dict(messages=[
        {"role": "system", "content": "  Be brief.\n"},
        {"role": "user", "content": "Weather in Paris and news about it?"},
        {"role": "assistant", "content": "Let me check both.",
         "reasoning_content": "\nNeed two tools.\n",
         "tool_calls": [call("get_weather", city="Paris"),
                        call("search", query="Paris news\nthis week", limit=3,
                             tags=["a", "b"], opts={"x": 1})]},
        {"role": "tool", "content": '{"temp": 21}'},
        {"role": "tool", "content": "  Headline one.\n"},
        {"role": "assistant", "content": "It is 21 degrees.",
         "tool_calls": [call("search", query="more")]},
        {"role": "tool", "content": "nothing"}],
        tools=[WEATHER, SEARCH], enable_thinking=True)),
    ("think_split", dict(messages=[
        {"role": "user", "content": "Q1"},
        {"role": "assistant", "content": "<think>\nold reasoning\n</think>\n\nOld answer."},
        {"role": "user", "content": "Q2"},
        {"role": "assistant", "content": "<think>\n\nLet me think.\n\n</think>\n\nThe answer."},
        {"role": "assistant", "content": "a<think>b<think>\n c \n</think>x</think>\n\n y"},
        {"role": "assistant", "content": "no open tag\n</think>\nafter"},
        {"role": "assistant", "content": "kept <think>inline</think>", "reasoning_content": " given "},
    ], add_generation_prompt=False)),
    ("tool_first", dict(messages=[
        {"role": "tool", "content": "orphan"},
        {"role": "user", "content": "hi"}])),
    ("wrapped_user", dict(messages=[
        {"role": "user", "content": "real question"},
        {"role": "assistant", "content": "calling", "tool_calls": [call("f")]},
        {"role": "user", "content": "  <tool_response>\nr\n</tool_response>\n"},
        {"role": "assistant", "content": "done"}], add_generation_prompt=False)),
    ("tools_empty_system", dict(messages=[
        {"role": "system", "content": " \n "},
        {"role": "user", "content": "x"}], tools=[WEATHER])),
    ("empty_system", dict(messages=[
        {"role": "system", "content": None},
        {"role": "user", "content": "\u3000 hi\u00a0\u2009\n"}])),
    ("null_contents", dict(messages=[
        {"role": "user", "content": None},
        {"role": "assistant", "content": None, "tool_calls": [call("f", a="1")]},
        {"role": "tool", "content": None}])),
]

ERRORS = [
    ("no_messages", dict(messages=[])),
    ("system_not_first", dict(messages=[U1, SYS])),
    ("bad_role", dict(messages=[U1, {"role": "bogus", "content": "x"}])),
    ("no_query", dict(messages=[SYS, A1])),
    ("only_wrapped", dict(messages=[{"role": "user", "content": "<tool_response>x</tool_response>"}])),
    ("bad_role_no_query", dict(messages=[{"role": "bogus", "content": "x"}])),
]

if __name__ == "__main__":
    for name, kw in CASES:
        print("static const char EXP_%s[] =\n%s;\n" % (name, c_literal(render(**kw))))
    for name, kw in ERRORS:
        try:
            render(**kw)
            print("/* %s: rendered without error! */" % name)
        except TemplateError as e:
            print("/* %s: %s */" % (name, e))
    sys.exit(0)
