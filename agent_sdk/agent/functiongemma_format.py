"""FunctionGemma's own tool syntax: declarations, calls and responses in its control tokens.

FunctionGemma (Gemma 3 270M tuned for calls) was trained on a syntax of its
own rather than JSON::

    <start_function_declaration>declaration:get_weather{description:<escape>Weather now<escape>,
        parameters:{properties:{city:{description:<escape>City<escape>,type:<escape>STRING<escape>}},
        required:[<escape>city<escape>],type:<escape>OBJECT<escape>}}<end_function_declaration>
    <start_function_call>call:get_weather{city:<escape>Paris<escape>,days:3}<end_function_call>
    <start_function_response>response:get_weather{temperature:15}<end_function_response>

Objects are ``{key:value,...}`` with bare keys, every string is wrapped in
the single ``<escape>`` token, numbers, ``true``/``false``/``null`` and
``[...]`` lists are as in JSON, and parallel calls are adjacent blocks.
The declarations follow the trigger sentence
:data:`FUNCTION_CALLING_PROMPT` in the first (developer/system) turn.

:class:`FunctionGemmaFormat` renders and parses this syntax and builds the
call grammar in it from each tool's JSON schema (:func:`arguments_rules`),
with the control tokens matched as the single tokens the model emits, so an
:class:`~agent_sdk.agent.Agent` over a FunctionGemma bundle calls in its
native syntax. :func:`~agent_sdk.agent.format_choice.native_call_format`
picks it for a vocabulary holding the control tokens.

What the grammar enforces: the tool names, every declared key with its type
(strings, integers, numbers, booleans, null, lists, nested objects, enums,
``anyOf``/``oneOf``/type lists), required keys present, undeclared keys
absent, keys in declared order, string lengths (bounds up to 512),
integer ranges (every value listed up to 1,024 of them, beyond that the
sign), non-negative numbers, list lengths (bounds up to 16). What it does
not: patterns, other numeric bounds (the JSON formats enforce them through llguidance's
JSON schema support); the agent validates the parsed arguments against the
schema before running the tool, so a value outside them comes back to the
model as an observation. A string value cannot hold
``<`` (the grammar ends a string only at the ``<escape>`` token, and text
spelling ``<escape>`` would read as one). Value re-ranking and the
argument copy bias read JSON and are inactive in this format.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent_sdk.agent.call_format import MAX_PARALLEL_CALLS, CallFormat, tools_for_choice
from agent_sdk.errors import ToolSchemaWarning, UserError

if TYPE_CHECKING:
    from agent_sdk.agent.parsing import ParseResult

__all__ = [
    "CONTROL_TOKENS", "ESCAPE", "FUNCTIONGEMMA", "FUNCTION_CALLING_PROMPT", "FunctionGemmaFormat", "arguments_rules",
    "parse_value", "render_declaration", "render_value",
]

ESCAPE = "<escape>"
START_DECLARATION, END_DECLARATION = "<start_function_declaration>", "<end_function_declaration>"
START_CALL, END_CALL = "<start_function_call>", "<end_function_call>"
START_RESPONSE, END_RESPONSE = "<start_function_response>", "<end_function_response>"
CONTROL_TOKENS = (ESCAPE, START_DECLARATION, END_DECLARATION, START_CALL, END_CALL, START_RESPONSE, END_RESPONSE)
"""The single tokens of FunctionGemma's vocabulary this syntax is written in."""

FUNCTION_CALLING_PROMPT = "You are a model that can do function calling with the following functions"
"""The sentence FunctionGemma was trained to read before its declarations (it switches tool use on)."""

# Deepest nesting of values the parser follows (a tool's arguments are a few levels at most).
_MAX_DEPTH = 64
# Integer ranges up to this many values are listed in the grammar (hours, percentages, a volume of 0-100).
_MAX_LISTED = 1024
# String lengths up to this are counted in the grammar; a longer bound is left to the argument check.
_MAX_COUNTED = 512
# List lengths up to this are counted in the grammar (each allowed item is a rule alternative).
_MAX_ITEMS = 16
_KEY = re.compile(r"[A-Za-z_$][A-Za-z0-9_.$\-]*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_NAME = re.compile(r"call:([^{}<>\s]+)\{")
_TOOL_NAME = re.compile(r"[^{}<>\s:,]{1,128}")


def render_value(value: Any, _depth: int = 0) -> str:
    """A value in FunctionGemma's syntax (strings in ``<escape>``, bare object keys).

    Raises:
        UserError: A value with no form in this syntax (a non-finite float, a
            string holding ``<escape>``, a key that is not a plain name, nesting
            deeper than 64).
    """
    if _depth > _MAX_DEPTH:
        raise UserError(f"a value nested deeper than {_MAX_DEPTH} levels has no form in FunctionGemma's syntax")
    if isinstance(value, str):
        if ESCAPE in value:
            raise UserError(f"a string value cannot contain {ESCAPE} in FunctionGemma's syntax: {value[:60]!r}")
        return f"{ESCAPE}{value}{ESCAPE}"
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise UserError(f"{value} has no form in FunctionGemma's syntax")
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(render_value(v, _depth + 1) for v in value) + "]"
    if isinstance(value, dict):
        parts = []
        for k, v in value.items():
            if not isinstance(k, str) or not _KEY.fullmatch(k):
                raise UserError(f"object key {k!r} is not a plain name, which FunctionGemma's syntax needs")
            parts.append(f"{k}:{render_value(v, _depth + 1)}")
        return "{" + ",".join(parts) + "}"
    raise UserError(f"a {type(value).__name__} has no form in FunctionGemma's syntax")


def _schema_for_declaration(schema: Any) -> Any:
    """A JSON schema as FunctionGemma's declarations show it: keys sorted, types in capitals."""
    if isinstance(schema, dict):
        out: dict[str, Any] = {}
        for k in sorted(schema):
            v = schema[k]
            if k == "type" and isinstance(v, str):
                out[k] = v.upper()
            elif k == "type" and isinstance(v, list):
                out[k] = [t.upper() if isinstance(t, str) else t for t in v]
            elif k == "properties" and isinstance(v, dict):
                out[k] = {name: _schema_for_declaration(sub) for name, sub in v.items()}  # declared order
            else:
                out[k] = _schema_for_declaration(v)
        return out
    if isinstance(schema, list):
        return [_schema_for_declaration(v) for v in schema]
    return schema


def render_declaration(tool: dict[str, Any]) -> str:
    """One tool as a FunctionGemma declaration block (``{"name", "description", "parameters"}``)."""
    body: dict[str, Any] = {}
    if tool.get("description"):
        body["description"] = str(tool["description"]).strip()
    params = tool.get("parameters") or {"type": "object", "properties": {}}
    body["parameters"] = _schema_for_declaration(params)
    return f"{START_DECLARATION}declaration:{tool['name']}{_render_loose(body)}{END_DECLARATION}"


def _render_loose(value: Any) -> str:
    """:func:`render_value` for schema text: keys that are not plain names (``$ref``, ``x-...``) are kept as written."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{_render_loose(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_render_loose(v) for v in value) + "]"
    if isinstance(value, str):
        return f"{ESCAPE}{value.replace(ESCAPE, '')}{ESCAPE}"
    return render_value(value)


class FunctionGemmaSyntaxError(ValueError):
    """Text that is not a value in FunctionGemma's syntax, with where it went wrong."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.position = position


def parse_value(text: str, start: int = 0, *, depth: int = 0) -> tuple[Any, int]:
    """Reads one value of FunctionGemma's syntax at ``start``; returns it and the index after it.

    Raises:
        FunctionGemmaSyntaxError: Not a value there (or nested deeper than 64).
    """
    if depth > _MAX_DEPTH:
        raise FunctionGemmaSyntaxError("values nested too deeply", start)
    if text.startswith(ESCAPE, start):
        end = text.find(ESCAPE, start + len(ESCAPE))
        if end < 0:
            raise FunctionGemmaSyntaxError(f"a string opened with {ESCAPE} is never closed", start)
        return text[start + len(ESCAPE) : end], end + len(ESCAPE)
    for word, value in (("true", True), ("false", False), ("null", None)):
        if text.startswith(word, start):
            return value, start + len(word)
    m = _NUMBER.match(text, start)
    if m:
        literal = m.group(0)
        if len(literal) > 640:
            raise FunctionGemmaSyntaxError("a number of more than 640 characters", start)
        if any(c in literal for c in ".eE"):
            number = float(literal)
            if not math.isfinite(number):
                raise FunctionGemmaSyntaxError(f"number {literal[:40]} is out of range", start)
            return number, m.end()
        return int(literal), m.end()
    if text.startswith("[", start):
        items: list[Any] = []
        i = start + 1
        if text.startswith("]", i):
            return items, i + 1
        while True:
            item, i = parse_value(text, i, depth=depth + 1)
            items.append(item)
            if text.startswith(",", i):
                i += 1
            elif text.startswith("]", i):
                return items, i + 1
            else:
                raise FunctionGemmaSyntaxError("expected ',' or ']' in a list", i)
    if text.startswith("{", start):
        obj: dict[str, Any] = {}
        i = start + 1
        if text.startswith("}", i):
            return obj, i + 1
        while True:
            km = _KEY.match(text, i)
            if not km or not text.startswith(":", km.end()):
                raise FunctionGemmaSyntaxError("expected key: in an object", i)
            value, i = parse_value(text, km.end() + 1, depth=depth + 1)
            obj[km.group(0)] = value
            if text.startswith(",", i):
                i += 1
            elif text.startswith("}", i):
                return obj, i + 1
            else:
                raise FunctionGemmaSyntaxError("expected ',' or '}' in an object", i)
    raise FunctionGemmaSyntaxError("expected a value", start)


# ------------------------------------------------------------------ grammar

_SHARED_RULES = [
    # A string: the <escape> token, text without '<', the <escape> token.
    "fg_str: <escape> FG_TEXT? <escape>",
    "FG_TEXT: /[^<]+/",
    "FG_INT: /-?(0|[1-9][0-9]*)/",
    "FG_INT_NONNEG: /(0|[1-9][0-9]*)/",
    "FG_NUM: /-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)?/",
    "FG_NUM_NONNEG: /(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)?/",
    "FG_KEY: /[A-Za-z_][A-Za-z0-9_]*/",
    # Any value (an untyped schema, or an object's free keys).
    ('fg_any: fg_str | FG_NUM | "true" | "false" | "null" | "[" (fg_any ("," fg_any)*)? "]"'
     ' | "{" (FG_KEY ":" fg_any ("," FG_KEY ":" fg_any)*)? "}"'),
]


class _Rules:
    """Lark rules for values of one tool's arguments, named ``<prefix>_<n>``."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.lines: list[str] = []

    def add(self, rhs: str) -> str:
        name = f"{self.prefix}_{len(self.lines)}"
        self.lines.append(f"{name}: {rhs}")
        return name

    def literal(self, value: Any) -> str:
        """A Lark expression for exactly ``value`` (strings between ``<escape>`` tokens, at any depth)."""
        if isinstance(value, str):
            return f"<escape> {json.dumps(value, ensure_ascii=False)} <escape>" if value else "<escape> <escape>"
        if isinstance(value, (list, tuple)):
            inner = ' "," '.join(self.literal(v) for v in value)
            return f'"[" {inner} "]"' if inner else '"[" "]"'
        if isinstance(value, dict):
            inner = ' "," '.join(f"{json.dumps(str(k) + ':')} {self.literal(v)}" for k, v in value.items())
            return f'"{{" {inner} "}}"' if inner else '"{" "}"'
        return json.dumps(render_value(value))

    def value(self, schema: Any, depth: int = 0) -> str:
        if depth > _MAX_DEPTH:
            raise UserError("a tool's schema is nested too deeply for FunctionGemma's call grammar")
        if not isinstance(schema, dict) or not schema:
            return "fg_any"
        if "enum" in schema:
            values = [v for v in schema["enum"] if _renders(v)]
            if not values:
                raise UserError(f"an enum with no value FunctionGemma's syntax can write: {schema['enum']!r}")
            return self.add(" | ".join(self.literal(v) for v in values))
        if "const" in schema:
            return self.add(self.literal(schema["const"]))
        if isinstance(schema.get("allOf"), list):  # merged shallowly: the parts' keys together
            merged = _without(schema, "allOf")
            for sub in schema["allOf"]:
                if isinstance(sub, dict):
                    merged = {**merged, **sub}
            return self.value(merged, depth + 1)
        for key in ("anyOf", "oneOf"):
            if isinstance(schema.get(key), list) and schema[key]:
                alts = []
                for sub in schema[key]:
                    if sub is False:
                        continue  # allows nothing
                    alts.append(self.value({**_without(schema, key), **sub} if isinstance(sub, dict) else {}, depth + 1))
                if not alts:
                    raise UserError(f"{key} allows no value")
                return self.add(" | ".join(alts))
        kind = schema.get("type")
        if isinstance(kind, list):
            return self.add(" | ".join(self.value({**schema, "type": k}, depth + 1) for k in kind))
        if kind == "string":
            return self.string(schema)
        if kind == "integer":
            return self.integer(schema)
        if kind == "number":
            return "FG_NUM_NONNEG" if _lower_bound(schema) >= 0 else "FG_NUM"
        if kind == "boolean":
            return self.add('"true" | "false"')
        if kind == "null":
            return self.add('"null"')
        if kind == "array":
            return self.array(schema, self.value(schema.get("items"), depth + 1))
        if kind == "object" or "properties" in schema:
            return self.object(schema, depth)
        return "fg_any"

    def string(self, schema: dict[str, Any]) -> str:
        """A string, its length between ``minLength`` and ``maxLength`` (a bound over :data:`_MAX_COUNTED` is left
        to the argument check: counted repetition that long would make the grammar large)."""
        lo, hi = schema.get("minLength"), schema.get("maxLength")
        lo = lo if _is_count(lo) and lo <= _MAX_COUNTED else 0
        hi = hi if _is_count(hi) and hi <= _MAX_COUNTED else None
        if lo == 0 and hi is None:
            return "fg_str"
        if hi is not None and hi < lo:
            raise UserError(f"a string with minLength {lo} above its maxLength {hi} allows no value")
        if hi == 0:
            return self.add("<escape> <escape>")
        text = f"/[^<]{{{max(lo, 1)},{'' if hi is None else hi}}}/"
        return self.add(f"<escape> {text}{'?' if lo == 0 else ''} <escape>")

    def integer(self, schema: dict[str, Any]) -> str:
        """An integer within ``minimum``/``maximum`` (and the exclusive bounds): every value listed when the range
        holds at most :data:`_MAX_LISTED` of them, else only the sign is held (non-negative, or negative)."""
        lo_f, hi_f = _lower_bound(schema), _upper_bound(schema)
        lo = math.ceil(lo_f) if math.isfinite(lo_f) else None
        hi = math.floor(hi_f) if math.isfinite(hi_f) else None
        if lo is not None and hi is not None:
            if lo > hi:
                raise UserError(f"an integer between {lo} and {hi} allows no value")
            if hi - lo < _MAX_LISTED:
                return self.add("/(" + "|".join(str(v) for v in range(lo, hi + 1)) + ")/")
        if lo is not None and lo >= 0:
            return "FG_INT_NONNEG"
        if hi is not None and hi < 0:
            return self.add("/-[1-9][0-9]*/")
        return "FG_INT"

    def array(self, schema: dict[str, Any], item: str) -> str:
        """A list of ``item``, its length between ``minItems`` and ``maxItems`` (counts up to :data:`_MAX_ITEMS`)."""
        lo, hi = schema.get("minItems"), schema.get("maxItems")
        lo = lo if _is_count(lo) and lo <= _MAX_ITEMS else 0
        hi = hi if _is_count(hi) and hi <= _MAX_ITEMS else None
        if hi is not None and hi < lo:
            raise UserError(f"a list with minItems {lo} above its maxItems {hi} allows no value")
        if hi == 0:
            return self.add('"[" "]"')
        first = max(lo, 1)
        body = " ".join([item] + [f'"," {item}'] * (first - 1))
        if hi is None:
            body += f' ("," {item})*'
        else:
            tail = ""
            for _ in range(hi - first):
                tail = f'("," {item} {tail})?'.replace(" )", ")")
            body = f"{body} {tail}".strip()
        return self.add(f'"[" ({body}){"?" if lo == 0 else ""} "]"')

    def object(self, schema: dict[str, Any], depth: int) -> str:
        props = schema.get("properties")
        if not isinstance(props, dict) or not props:
            extra = schema.get("additionalProperties")
            if extra is False or (isinstance(props, dict) and "additionalProperties" not in schema):
                return self.add('"{" "}"')  # declared without keys: closed, as the JSON formats close it
            value = self.value(extra, depth + 1) if isinstance(extra, dict) else "fg_any"
            return self.add(f'"{{" (FG_KEY ":" {value} ("," FG_KEY ":" {value})*)? "}}"')
        for key in props:
            if not _KEY.fullmatch(str(key)):
                raise UserError(f"property {key!r} is not a plain name, which FunctionGemma's syntax needs")
        keys = list(props)
        listed = schema.get("required")
        required = {k for k in listed if isinstance(k, str)} & set(keys) if isinstance(listed, list) else set()
        members = [f'{json.dumps(k + ":")} {self.value(props[k], depth + 1)}' for k in keys]
        # Keys in declared order; optional ones may be left out. The first key written is any key up to and
        # including the first required one; every later key follows a comma (required: always).
        rest: list[str] = [""] * (len(keys) + 1)
        for j in range(len(keys) - 1, -1, -1):
            piece = f'"," {members[j]}'
            rest[j] = (f"{piece} {rest[j + 1]}" if keys[j] in required else f"({piece})? {rest[j + 1]}").strip()
        firsts = []
        for j, key in enumerate(keys):
            firsts.append(f"{members[j]} {rest[j + 1]}".strip())
            if key in required:
                break
        body = "(" + " | ".join(f"({f})" for f in firsts) + ")"
        if not required:
            body += "?"
        return self.add(f'"{{" {body} "}}"')


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _bound(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _lower_bound(schema: dict[str, Any]) -> float:
    """The smallest value allowed (``-inf``: none); an exclusive bound counts as inclusive but for integers."""
    low = _bound(schema.get("minimum"))
    ex = _bound(schema.get("exclusiveMinimum"))
    if ex is not None:
        ex = ex + 1 if schema.get("type") == "integer" and ex == int(ex) else ex
        low = ex if low is None else max(low, ex)
    return -math.inf if low is None else low


def _upper_bound(schema: dict[str, Any]) -> float:
    """The largest value allowed (``inf``: none); see :func:`_lower_bound`."""
    high = _bound(schema.get("maximum"))
    ex = _bound(schema.get("exclusiveMaximum"))
    if ex is not None:
        ex = ex - 1 if schema.get("type") == "integer" and ex == int(ex) else ex
        high = ex if high is None else min(high, ex)
    return math.inf if high is None else high


def _without(schema: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k != key}


def _renders(value: Any) -> bool:
    try:
        render_value(value)
    except UserError:
        return False
    return True


def arguments_rules(parameters: dict[str, Any] | None, prefix: str) -> tuple[str, list[str]]:
    """Lark rules for a call's arguments object in FunctionGemma's syntax.

    Args:
        parameters: The tool's JSON schema (an object).
        prefix: Names the rules (unique per tool in one grammar).

    Returns:
        ``(rule name, rule lines)``; the lines use the shared ``fg_*`` rules
        that :meth:`FunctionGemmaFormat.grammar` adds once.

    Raises:
        UserError: A schema this syntax cannot write (keys that are not plain names).
    """
    rules = _Rules(prefix)
    params = parameters if isinstance(parameters, dict) else {"type": "object", "properties": {}}
    name = rules.object({**params, "type": "object"}, 0)
    return name, rules.lines


@dataclass(frozen=True)
class FunctionGemmaFormat(CallFormat):
    """FunctionGemma's ``<start_function_call>call:name{key:value}<end_function_call>`` blocks."""

    name: str = "functiongemma"
    open: str = START_CALL
    close: str = END_CALL
    separator: str = ""
    args_key: str = "\x00functiongemma-arguments\x00"  # never in text: JSON-reading stages stay inactive
    result_open: str = START_RESPONSE
    result_close: str = END_RESPONSE

    @property
    def instructions(self) -> str:
        return ""

    @property
    def json_arguments(self) -> bool:
        return False

    def system_prompt(self, tools: Sequence[dict[str, Any]], system: str | None) -> str | None:
        """The trigger sentence and one declaration per tool, after the caller's own instructions."""
        head = f"{system.strip()}\n" if system and system.strip() else ""
        return head + FUNCTION_CALLING_PROMPT + "".join(render_declaration(t) for t in tools)

    def call_head(self, name: str) -> str:
        return f"call:{name}"

    def call_tail(self) -> str:
        return ""

    def render_call(self, name: str, arguments: Any) -> str:
        return f"{self.open}call:{name}{render_value(arguments if arguments is not None else {})}{self.close}"

    def render_result(self, content: str, *, name: str | None = None) -> str:
        """A tool result: ``response:<tool>{...}`` holding the result's JSON object (or ``{value:...}``).

        Args:
            content: The result's text (JSON is rendered in this syntax).
            name: The tool that returned it; ``result`` when unknown or not a name this syntax can write.
        """
        try:
            value: Any = json.loads(content)
            body = render_value(value if isinstance(value, dict) else {"value": value})
        except (ValueError, UserError, RecursionError):  # not JSON, no form here, or nested too deeply
            body = render_value({"value": content.replace(ESCAPE, "")})
        label = name if isinstance(name, str) and _TOOL_NAME.fullmatch(name) else "result"
        return f"{START_RESPONSE}response:{label}{body}{END_RESPONSE}"

    @property
    def stop_texts(self) -> tuple[str, ...]:
        """``<start_function_response>``: after its calls the model would go on to write their results itself."""
        return (START_RESPONSE,)

    def arguments_start(self, text: str, start: int = 0) -> int:
        return -1

    def last_arguments_start(self, text: str) -> int:
        return -1

    def current_tool(self, text: str) -> str | None:
        names = _NAME.findall(text)
        return names[-1] if names else None

    def parse(self, text: str, *, known_tools: Collection[str] | None = None) -> ParseResult:
        """The calls in ``text``: every ``<start_function_call>`` block; what cannot be read is an error."""
        from agent_sdk.agent.parsing import _MAX_BLOCK_CHARS, ParsedCall, ParseError, ParseResult, _find_blocks

        if not isinstance(text, str):
            raise UserError(f"parse needs a str, got {type(text).__name__}")
        calls: list[ParsedCall] = []
        errors: list[ParseError] = []
        free: list[str] = []
        cursor = 0
        # Blocks as the JSON formats find theirs: up to the closing tag, the next opening tag or the end.
        for start, end, body_start, body_end, terminated in _find_blocks(text, START_CALL, END_CALL):
            free.append(text[cursor:start])
            cursor = end
            raw, body = text[start:end], text[body_start:body_end]
            if not terminated:
                errors.append(ParseError("a function call block is not closed", raw, start))
                continue
            if len(body) > _MAX_BLOCK_CHARS:
                errors.append(ParseError("the function call block is too long", raw[:200], start))
                continue
            m = re.match(r"call:([^{}<>\s]+)", body)
            if not m:
                errors.append(ParseError("a function call must start with call:<name>", raw, start))
                continue
            try:
                args, after = parse_value(body, m.end())
            except FunctionGemmaSyntaxError as exc:
                errors.append(ParseError(f"the call's arguments cannot be read: {exc}", raw, body_start + exc.position))
                continue
            if not isinstance(args, dict) or body[after:].strip():
                errors.append(ParseError("a call's arguments must be one {key:value,...} object", raw, start))
                continue
            calls.append(ParsedCall(m.group(1), args, raw))
        free.append(text[cursor:])
        return ParseResult(calls=calls, text="".join(free).strip(), errors=errors)

    def grammar(self, tools: Sequence[dict[str, Any]], *, choice: str = "required", parallel: bool = False,
                max_calls: int = MAX_PARALLEL_CALLS) -> str:
        """A Lark grammar (llguidance dialect) for calls to ``tools`` in this syntax (control tokens as tokens).

        Raises:
            UserError: No tools, ``choice`` names an unknown tool, or a schema
                this syntax cannot write.
        """
        tools = tools_for_choice(tools, choice)
        lines: list[str] = []
        alts = []
        problems = []
        for i, t in enumerate(tools):
            try:
                args, rules = arguments_rules(t.get("parameters"), f"fg{i}")
            except UserError as exc:
                problems.append(f"tool {t['name']!r} left out: {exc}")
                continue
            lines.append(f"call_{i}: {json.dumps('call:' + str(t['name']), ensure_ascii=False)} {args}")
            lines.extend(rules)
            alts.append(f"call_{i}")
        if not alts:
            raise UserError("no tool's schema can be written in FunctionGemma's call syntax: " + "; ".join(problems))
        for problem in problems:
            warnings.warn(problem + " (FunctionGemma's call syntax)", ToolSchemaWarning, stacklevel=2)
        if parallel and max_calls > 1:
            start = f"start: block{{1,{max_calls}}}"
        else:
            start = "start: block"
        head = [start, "block: <start_function_call> call <end_function_call>", "call: " + " | ".join(alts)]
        return "\n".join([*head, *lines, *_SHARED_RULES]) + "\n"


FUNCTIONGEMMA = FunctionGemmaFormat()
