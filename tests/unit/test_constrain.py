"""Grammars on the real llguidance matcher: JSON schemas, tool calls, masking, jump-forward.

No model: texts are tokenized with a real byte-level BPE tokenizer (the
SmolLM2-135M one rebuilt from its GGUF, and the small one trained by the test
fixtures) and the token ids are fed to a fresh :class:`Constraint`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tokenizers import Tokenizer

from agent_sdk.constrain.grammar import Constraint, GrammarEngine, GrammarError
from agent_sdk.agent.call_format import HERMES
from agent_sdk.errors import AgentSDKError, UserError
from agent_sdk.models.checkpoint_io import read_gguf
from agent_sdk.models.mobilellm.mobilellm_loader import gguf_tokenizer
from tests.fixtures.checkpoints import build_bpe_tokenizer

pytestmark = pytest.mark.unit


@dataclass
class Vocab:
    """A tokenizer and the grammar engine built from its tokenizer.json."""

    name: str
    tokenizer_json: str
    tokenizer: Tokenizer
    engine: GrammarEngine
    eos: int

    def ids(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def text(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=False)


@pytest.fixture(scope="module")
def smollm2(smollm2_gguf: Path) -> Vocab:
    raw, meta = gguf_tokenizer(read_gguf(smollm2_gguf), smollm2_gguf)
    tokenizer = Tokenizer.from_str(raw.decode())
    assert tokenizer.get_vocab_size() == 49152 and meta["eos_token_ids"] == [2]
    engine = GrammarEngine(raw.decode(), vocab_size=49152, eos_token_ids=[2])
    return Vocab("smollm2", raw.decode(), tokenizer, engine, 2)


@pytest.fixture(scope="module")
def bpe384() -> Vocab:
    tokenizer = build_bpe_tokenizer()
    engine = GrammarEngine(tokenizer.to_str(), vocab_size=tokenizer.get_vocab_size(), eos_token_ids=[2])
    return Vocab("bpe384", tokenizer.to_str(), tokenizer, engine, 2)


@pytest.fixture(scope="module", params=["smollm2", "bpe384"])
def vocab(request: pytest.FixtureRequest) -> Vocab:
    return request.getfixturevalue(request.param)


@dataclass
class Fed:
    """What happened when a text's tokens were fed to a fresh matcher."""

    refused: tuple[int, int] | None  # character span of the first token the grammar refused
    accepting: bool
    constraint: Constraint


def feed(vocab: Vocab, grammar: str, text: str) -> Fed:
    c = vocab.engine.constraint(grammar)
    enc = vocab.tokenizer.encode(text, add_special_tokens=False)
    for tid, span in zip(enc.ids, enc.offsets):
        try:
            c.accept(tid)
        except AgentSDKError:
            return Fed(span, False, c)
    return Fed(None, c.is_accepting(), c)


def assert_matches(vocab: Vocab, grammar: str, text: str) -> Constraint:
    fed = feed(vocab, grammar, text)
    assert fed.refused is None, (
        f"{vocab.name}: refused {text[fed.refused[0] : fed.refused[1]]!r} at {fed.refused} in {text!r}"
    )
    assert fed.accepting, f"{vocab.name}: {text!r} was accepted but is not a complete match"
    return fed.constraint


def assert_refused(vocab: Vocab, grammar: str, good: str, bad: str) -> None:
    """``good + bad`` must fail, and not before ``bad`` starts (``good`` is a valid prefix)."""
    text = good + bad
    fed = feed(vocab, grammar, text)
    if fed.refused is None:
        assert not fed.accepting, f"{vocab.name}: {text!r} should not match"
        assert bad == "", f"{vocab.name}: {text!r} was fully accepted (only a truncated text may end unfinished)"
        return
    start, end = fed.refused
    assert end > len(good), (
        f"{vocab.name}: refused {text[start:end]!r} at {fed.refused}, inside the valid prefix {good!r}"
    )


# --------------------------------------------------------------------------- JSON schemas

ENUM = {"type": "string", "enum": ["red", "green", "light blue"]}
REQUIRED = {
    "type": "object",
    "properties": {"unit": {"type": "string"}, "city": {"type": "string"}},
    "required": ["city"],
    "additionalProperties": False,
}
NESTED = {
    "type": "object",
    "properties": {
        "user": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
            "required": ["name", "age"],
            "additionalProperties": False,
        },
        "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}},
    },
    "required": ["user"],
    "additionalProperties": False,
}
INT_ARRAY = {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 3}
NULLABLE = {"type": ["string", "null"]}

VALID = [
    (ENUM, '"red"'),
    (ENUM, '"light blue"'),
    (REQUIRED, '{"city": "Paris"}'),
    (REQUIRED, '{"unit": "c", "city": "Paris"}'),
    ({"type": "integer"}, "42"),
    ({"type": "integer"}, "-7"),
    ({"type": "integer"}, "0"),
    ({"type": "number"}, "4.5"),
    ({"type": "number"}, "-0.25"),
    ({"type": "number"}, "42"),
    ({"type": "number"}, "1e-3"),
    (NESTED, '{"user": {"name": "Ann", "age": 31}}'),
    (NESTED, '{"user": {"name": "Ann", "age": 31}, "tags": ["b", "a"]}'),
    (NESTED, '{"user": {"name": "Ann", "age": 31}, "tags": []}'),
    (INT_ARRAY, "[1]"),
    (INT_ARRAY, "[1, -2, 30]"),
    (NULLABLE, "null"),
    (NULLABLE, '"x"'),
    ({"type": "boolean"}, "false"),
]

# (schema, valid prefix, the part that makes it invalid)
INVALID = [
    pytest.param(ENUM, '"', 'blue"', id="enum-unknown"),
    pytest.param(ENUM, '"red', 'dish"', id="enum-longer"),
    pytest.param(ENUM, '"light', '"', id="enum-truncated-value"),
    pytest.param(REQUIRED, '{"unit": "c"', "}", id="required-missing"),
    pytest.param(REQUIRED, "{", "}", id="required-empty-object"),
    pytest.param(REQUIRED, '{"city": "Paris"', ', "country": "FR"}', id="additional-after"),
    pytest.param(REQUIRED, '{"', 'country": "FR", "city": "Paris"}', id="additional-before"),
    pytest.param({"type": "integer"}, "4", ".5", id="integer-fraction"),
    pytest.param({"type": "integer"}, "", '"4"', id="integer-as-string"),
    pytest.param({"type": "integer"}, "0", "1", id="integer-leading-zero"),
    pytest.param({"type": "number"}, "4.", "", id="number-truncated"),
    pytest.param({"type": "number"}, "", "NaN", id="number-nan"),
    pytest.param(NESTED, '{"user": {"name": "Ann", "age": ', '"31"}}', id="nested-type"),
    pytest.param(NESTED, '{"user": {"name": "Ann"', "}}", id="nested-required"),
    pytest.param(NESTED, '{"user": {"name": "Ann", "age": 31', ', "x": 1}}', id="nested-additional"),
    pytest.param(NESTED, '{"user": {"name": "Ann", "age": 31}, "tags": ["', 'c"]}', id="items-enum"),
    pytest.param(INT_ARRAY, "[1, ", '"2"]', id="items-type"),
    pytest.param(INT_ARRAY, "[1, 2, 3", ", 4]", id="max-items"),
    pytest.param(INT_ARRAY, "[", "]", id="min-items"),
    pytest.param(NULLABLE, "", "0", id="nullable-number"),
    pytest.param({"type": "boolean"}, "", '"false"', id="boolean-as-string"),
    pytest.param(
        {"type": "object", "properties": {"a": {"type": "integer"}}}, '{"a":', "1}", id="compact-key-separator"
    ),
    pytest.param(INT_ARRAY, "[1,", "2]", id="compact-item-separator"),
    pytest.param(REQUIRED, "", ' {"city": "Paris"}', id="leading-space"),
]


@pytest.mark.parametrize(("schema", "text"), VALID)
def test_json_schema_grammar_accepts_valid_instances(vocab: Vocab, schema: dict[str, Any], text: str) -> None:
    assert_matches(vocab, vocab.engine.json_grammar(schema), text)


@pytest.mark.parametrize(("schema", "good", "bad"), INVALID)
def test_json_schema_grammar_refuses_invalid_instances(
    vocab: Vocab, schema: dict[str, Any], good: str, bad: str
) -> None:
    assert_refused(vocab, vocab.engine.json_grammar(schema), good, bad)


def test_additional_properties_are_refused_only_when_the_schema_says_so(smollm2: Vocab) -> None:
    open_schema = {k: v for k, v in REQUIRED.items() if k != "additionalProperties"}
    text = '{"city": "Paris", "country": "FR"}'
    assert_matches(smollm2, smollm2.engine.json_grammar(open_schema), text)
    assert_refused(smollm2, smollm2.engine.json_grammar(REQUIRED), '{"city": "Paris"', ', "country": "FR"}')


def test_keys_come_in_the_schema_order(smollm2: Vocab) -> None:
    # llguidance writes properties in declared order; prompts must show that order.
    schema = {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
    }
    grammar = smollm2.engine.json_grammar(schema)
    assert_matches(smollm2, grammar, '{"a": 1, "b": 2}')
    assert_refused(smollm2, grammar, '{"', 'b": 2, "a": 1}')


def test_whitespace_flexible_grammar_accepts_spaced_json(smollm2: Vocab) -> None:
    text = '{ "unit" : "c" ,  "city" :  "Paris"\n}'
    assert_matches(smollm2, smollm2.engine.json_grammar(REQUIRED, whitespace_flexible=True), text)
    assert_refused(smollm2, smollm2.engine.json_grammar(REQUIRED), "{", ' "unit" : "c" ,  "city" :  "Paris"\n}')


@pytest.mark.parametrize("indent", [None, 2])
def test_whitespace_flexible_grammar_accepts_standard_json_layouts(smollm2: Vocab, indent: int | None) -> None:
    text = json.dumps({"unit": "c", "city": "Paris"}, indent=indent, separators=(",", ":") if indent is None else None)
    assert_matches(smollm2, smollm2.engine.json_grammar(REQUIRED, whitespace_flexible=True), text)


def test_eos_is_allowed_exactly_when_the_document_is_complete(smollm2: Vocab) -> None:
    c = smollm2.engine.constraint(smollm2.engine.json_grammar({"type": "integer"}))
    assert not c.allowed()[smollm2.eos] and not c.is_accepting()
    for t in smollm2.ids("12"):
        c.accept(t)
    assert c.allowed()[smollm2.eos] and c.is_accepting() and not c.is_stopped()
    c.accept(smollm2.eos)
    assert c.is_stopped()
    assert c.forced_tokens() == []


# --------------------------------------------------------------------------- masking


def test_mask_logits_sets_exactly_the_disallowed_tokens_to_minus_inf(smollm2: Vocab) -> None:
    rng = np.random.default_rng(0)
    c = smollm2.engine.constraint(smollm2.engine.json_grammar(NESTED))
    for t in [None, *smollm2.ids('{"user": {"name": "Ann", "age": 3')]:
        if t is not None:
            c.accept(t)
        logits = rng.standard_normal(49152).astype(np.float32)
        original = logits.copy()
        allowed = c.allowed()
        assert allowed.shape == (49152,) and allowed.dtype == bool
        assert 0 < allowed.sum() < 49152
        masked = c.mask_logits(logits)
        assert masked is logits  # in place
        np.testing.assert_array_equal(np.isneginf(masked), ~allowed)
        np.testing.assert_array_equal(masked[allowed], original[allowed])
    assert c.masked_steps == len(smollm2.ids('{"user": {"name": "Ann", "age": 3')) + 1


def test_allowed_agrees_with_accept_and_with_the_token_texts(smollm2: Vocab) -> None:
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer"}},
        "required": ["n"],
        "additionalProperties": False,
    }
    grammar = smollm2.engine.json_grammar(schema)
    prefix = smollm2.ids('{"n": ')

    def at_value() -> Constraint:
        c = smollm2.engine.constraint(grammar)
        for t in prefix:
            c.accept(t)
        return c

    allowed = at_value().allowed()
    texts = {smollm2.text([int(t)]) for t in np.flatnonzero(allowed)}
    # An integer starts here: only digits and a minus sign can come next, and all of them can.
    assert all(re.fullmatch(r"-?[0-9]+|-", t) for t in texts), sorted(texts)
    assert set("-0123456789") <= texts
    rng = np.random.default_rng(1)
    for t in np.flatnonzero(allowed):
        at_value().accept(int(t))
    for t in rng.choice(np.flatnonzero(~allowed), size=20, replace=False):
        with pytest.raises(AgentSDKError, match="not allowed|matcher error"):
            at_value().accept(int(t))


def test_padded_logits_rows_beyond_the_tokenizer_are_masked(smollm2: Vocab) -> None:
    # Models often pad the embedding to a multiple of 64/128 rows.
    engine = GrammarEngine(smollm2.tokenizer_json, vocab_size=49152 + 64, eos_token_ids=[2])
    c = engine.constraint(engine.json_grammar({"type": "integer"}))
    allowed = c.allowed()
    assert allowed.shape == (49152 + 64,) and not allowed[49152:].any()
    logits = np.zeros(49152 + 64, dtype=np.float32)
    c.mask_logits(logits)
    np.testing.assert_array_equal(np.isneginf(logits), ~allowed)
    assert np.isneginf(logits[49152:]).all()


# --------------------------------------------------------------------------- errors and cache


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"type": "foo"}, "foo"),
        ({"type": "object", "properties": {"a": {"$ref": "#/definitions/missing"}}}, "missing"),
        ({"type": "string", "pattern": "(unclosed"}, "regex|unclosed"),
    ],
)
def test_invalid_json_schema_raises_grammar_error(smollm2: Vocab, schema: dict[str, Any], message: str) -> None:
    with pytest.raises(GrammarError, match=message):
        smollm2.engine.json_grammar(schema)


@pytest.mark.parametrize("lark", ["start: (", "start: undefined_rule", "x y z", ""])
def test_invalid_lark_raises_grammar_error(smollm2: Vocab, lark: str) -> None:
    with pytest.raises(GrammarError):
        smollm2.engine.lark_grammar(lark)


def test_grammar_error_is_a_user_error(smollm2: Vocab) -> None:
    assert issubclass(GrammarError, UserError) and issubclass(GrammarError, AgentSDKError)
    with pytest.raises(GrammarError):
        smollm2.engine.constraint("this is not a grammar")


def test_boolean_schema_true_accepts_any_json(smollm2: Vocab) -> None:
    grammar = smollm2.engine.json_grammar(True)
    assert_matches(smollm2, grammar, '{"anything": [1, "x", null]}')


def test_grammar_cache_returns_the_same_compiled_string(bpe384: Vocab) -> None:
    engine = GrammarEngine(bpe384.tokenizer_json, vocab_size=384, eos_token_ids=[2], cache_size=2)
    first = engine.json_grammar(NESTED)
    assert engine.json_grammar(json.loads(json.dumps(NESTED))) is first  # equal schema, new object
    assert engine.json_grammar(NESTED, whitespace_flexible=True) is not first
    lark = HERMES.grammar([WEATHER])
    assert engine.lark_grammar(lark) is engine.lark_grammar(lark)
    # Three grammars with room for two: the least recently used one is evicted and rebuilt.
    again = engine.json_grammar(NESTED)
    assert again == first and again is not first


def test_grammar_cache_distinguishes_property_order(smollm2: Vocab) -> None:
    engine = GrammarEngine(smollm2.tokenizer_json, vocab_size=49152, eos_token_ids=[2])
    ab = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a", "b"]}
    ba = {"type": "object", "properties": {"b": {"type": "integer"}, "a": {"type": "integer"}}, "required": ["a", "b"]}
    engine.json_grammar(ab)
    assert_matches(smollm2, engine.json_grammar(ba), '{"b": 2, "a": 1}')


# --------------------------------------------------------------------------- tool-call grammars

WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
        "required": ["city"],
        "additionalProperties": False,
    },
}
ALARM = {
    "name": "set_alarm",
    "parameters": {
        "type": "object",
        "properties": {
            "time": {"type": "string"},
            "days": {"type": "array", "items": {"type": "string", "enum": ["mon", "tue", "wed"]}},
            "loud": {"type": "boolean"},
        },
        "required": ["time"],
        "additionalProperties": False,
    },
}
ADD = {
    "name": "math.add",
    "parameters": {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "number"}},
        "required": ["a", "b"],
        "additionalProperties": False,
    },
}
NO_ARGS = {"name": "get_time", "parameters": {"type": "object", "properties": {}, "additionalProperties": False}}
TOOLS = [WEATHER, ALARM, ADD, NO_ARGS]


def call(name: str, arguments: str) -> str:
    return '<tool_call>\n{"name": "' + name + '", "arguments": ' + arguments + "}\n</tool_call>"


GOOD_CALLS = [
    call("get_weather", '{"city": "Paris"}'),
    call("get_weather", '{"city": "Paris", "unit": "c"}'),
    call("set_alarm", '{"time": "07:45", "days": ["mon", "wed"], "loud": true}'),
    call("set_alarm", '{"time": "07:45"}'),
    call("math.add", '{"a": 2, "b": -3.5}'),
    call("get_time", "{}"),
]


@pytest.fixture(scope="module")
def tools_grammar(smollm2: Vocab) -> str:
    return smollm2.engine.lark_grammar(HERMES.grammar(TOOLS))


@pytest.mark.parametrize("text", GOOD_CALLS)
def test_tool_call_grammar_accepts_a_correct_call_of_each_tool(smollm2: Vocab, tools_grammar: str, text: str) -> None:
    c = assert_matches(smollm2, tools_grammar, text)
    assert c.is_stopped()  # one block, nothing may follow


BAD_CALLS = [
    pytest.param('<tool_call>\n{"name": "get_', 'time_zone", "arguments": {}}\n</tool_call>', id="unknown-tool"),
    pytest.param('<tool_call>\n{"name": "', 'weather", "arguments": {}}\n</tool_call>', id="unknown-tool-prefix"),
    pytest.param(
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "unit": "', 'k"}}\n</tool_call>', id="enum"
    ),
    pytest.param(
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"',
        ', "country": "FR"}}\n</tool_call>',
        id="extra-key",
    ),
    pytest.param(
        '<tool_call>\n{"name": "get_weather", "arguments": {', '"unit": "c"}}\n</tool_call>', id="missing-required"
    ),
    pytest.param(
        '<tool_call>\n{"name": "math.add", "arguments": {"a": 2', "}}\n</tool_call>", id="missing-second-required"
    ),
    pytest.param(
        '<tool_call>\n{"name": "math.add", "arguments": {"a": 2', '.5, "b": 1}}\n</tool_call>', id="float-for-integer"
    ),
    pytest.param(
        '<tool_call>\n{"name": "set_alarm", "arguments": {"time": "07:45", "days": ["',
        'sun"]}}\n</tool_call>',
        id="array-item-enum",
    ),
    pytest.param(
        '<tool_call>\n{"name": "set_alarm", "arguments": {"time": "07:45", "loud": ',
        '"yes"}}\n</tool_call>',
        id="bool-as-string",
    ),
    pytest.param(
        '<tool_call>\n{"name": "get_time", "arguments": {', '"x": 1}}\n</tool_call>', id="args-for-no-arg-tool"
    ),
    pytest.param(
        '<tool_call>\n{"name":',
        '"get_weather", "arguments": {"city": "Paris"}}\n</tool_call>',
        id="ws-after-name-colon",
    ),
    pytest.param(
        "<tool_call>\n{", ' "name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>', id="ws-after-brace"
    ),
    pytest.param(
        '<tool_call>\n{"name": "get_weather",',
        '"arguments": {"city": "Paris"}}\n</tool_call>',
        id="ws-missing-after-comma",
    ),
    pytest.param(
        '<tool_call>\n{"name": "get_weather", "arguments": {"city":', '"Paris"}}\n</tool_call>', id="ws-arg-colon"
    ),
    pytest.param(
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris",',
        '"unit": "c"}}\n</tool_call>',
        id="ws-arg-comma",
    ),
    pytest.param(
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}', " }\n</tool_call>", id="ws-before-close"
    ),
    pytest.param(
        '<tool_call>\n{"name": "get_weather", "arguments": {', ' "city": "Paris"}}\n</tool_call>', id="ws-args-open"
    ),
    pytest.param(
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"', " }}\n</tool_call>", id="ws-args-close"
    ),
    pytest.param(
        '<tool_call>\n{"name": "set_alarm", "arguments": {"time": "07:45", "days": [',
        ' "mon"]}}\n</tool_call>',
        id="ws-array-open",
    ),
    pytest.param(
        '<tool_call>\n{"name": "get_weather", "arguments": ',
        '\n{"city": "Paris"}}\n</tool_call>',
        id="ws-newline-before-args",
    ),
    pytest.param("<tool_call>", '{"name": "get_time", "arguments": {}}\n</tool_call>', id="no-newline-after-open"),
    pytest.param('<tool_call>\n{"name": "get_time", "arguments": {}}', "</tool_call>", id="no-newline-before-close"),
    pytest.param("", 'Sure! <tool_call>\n{"name": "get_time", "arguments": {}}\n</tool_call>', id="text-before-call"),
    pytest.param('<tool_call>\n{"name": "get_time", "arguments": {}}\n</tool_call>', " Done.", id="text-after-call"),
    pytest.param('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}', "", id="unclosed-block"),
]


@pytest.mark.parametrize(("good", "bad"), BAD_CALLS)
def test_tool_call_grammar_refuses_bad_calls(smollm2: Vocab, tools_grammar: str, good: str, bad: str) -> None:
    assert_refused(smollm2, tools_grammar, good, bad)


def test_choice_of_a_tool_allows_only_that_tool(smollm2: Vocab) -> None:
    grammar = smollm2.engine.lark_grammar(HERMES.grammar(TOOLS, choice="set_alarm"))
    assert_matches(smollm2, grammar, call("set_alarm", '{"time": "07:45"}'))
    assert_refused(
        smollm2, grammar, '<tool_call>\n{"name": "', 'get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    )
    assert_refused(
        smollm2, grammar, '<tool_call>\n{"name": "', 'math.add", "arguments": {"a": 1, "b": 2}}\n</tool_call>'
    )


def test_tool_call_grammar_rejects_bad_arguments_at_definition() -> None:
    with pytest.raises(UserError, match="at least one tool"):
        HERMES.grammar([])
    with pytest.raises(UserError, match="unknown tool 'send_mail'.*get_weather, set_alarm"):
        HERMES.grammar(TOOLS, choice="send_mail")


def test_single_call_grammar_refuses_a_second_block(smollm2: Vocab, tools_grammar: str) -> None:
    one = call("get_time", "{}")
    assert_refused(smollm2, tools_grammar, one, "\n" + one)


@pytest.mark.parametrize("max_calls", [2, 8])
def test_parallel_grammar_allows_up_to_max_calls_blocks(smollm2: Vocab, max_calls: int) -> None:
    grammar = smollm2.engine.lark_grammar(HERMES.grammar(TOOLS, parallel=True, max_calls=max_calls))
    blocks = [call("get_weather", '{"city": "Paris"}'), call("set_alarm", '{"time": "07:45"}'), call("get_time", "{}")]
    calls = [blocks[i % 3] for i in range(max_calls + 1)]
    assert_matches(smollm2, grammar, calls[0])
    two = assert_matches(smollm2, grammar, "\n".join(calls[:2]))
    assert two.is_stopped() == (max_calls == 2)
    full = assert_matches(smollm2, grammar, "\n".join(calls[:max_calls]))
    assert full.is_stopped()
    assert_refused(smollm2, grammar, "\n".join(calls[:max_calls]), "\n" + calls[max_calls])
    assert_refused(smollm2, grammar, calls[0], "\n\n" + calls[1])  # exactly one newline between blocks
    assert_refused(smollm2, grammar, calls[0], " " + calls[1])


# --------------------------------------------------------------------------- jump-forward


def generate(vocab: Vocab, grammar: str, text: str) -> tuple[Constraint, int, int]:
    """Writes ``text`` as a decoder would: forced spans in one go, other tokens one by one.

    Returns the constraint, the number of forced tokens and the total number of tokens.
    """
    c = vocab.engine.constraint(grammar)
    pos = 0
    while pos < len(text):
        forced = c.forced_tokens()
        if forced:
            piece = vocab.text(forced)
            assert text.startswith(piece, pos), f"forced {piece!r} but the text goes on with {text[pos:]!r}"
            for t in forced:
                c.accept(t)
            c.note_forced(len(forced))
        else:
            t = vocab.ids(text[pos:])[0]
            piece = vocab.text([t])
            c.accept(t)
        pos += len(piece)
    return c, c.forced_count, len(c.tokens)


def test_the_start_of_a_single_tool_call_is_forced(smollm2: Vocab) -> None:
    grammar = smollm2.engine.lark_grammar(HERMES.grammar([WEATHER]))
    text = call("get_weather", '{"city": "Paris", "unit": "c"}')
    c = smollm2.engine.constraint(grammar)
    forced = c.forced_tokens()
    head = smollm2.text(forced)
    assert head.startswith('<tool_call>\n{"name": "get_weather", "arguments": {'), head
    assert text.startswith(head)
    for t in forced:
        c.accept(t)
    c.note_forced(len(forced))
    assert not c.is_stopped() and not c.is_accepting()
    assert c.forced_flags == [True] * len(forced)
    rest = smollm2.ids(text[len(head) :])
    for t in rest:
        c.accept(t)
    assert c.is_accepting() and c.is_stopped()
    assert c.forced_flags == [True] * len(forced) + [False] * len(rest)


def test_the_rest_of_a_tool_name_is_forced_once_it_is_decided(smollm2: Vocab, tools_grammar: str) -> None:
    c = smollm2.engine.constraint(tools_grammar)
    head = c.forced_tokens()
    assert smollm2.text(head) == '<tool_call>\n{"name": "'  # four tools: the name is open
    for t in head + smollm2.ids("set"):
        c.accept(t)
    rest = smollm2.text(c.forced_tokens())
    assert rest.startswith('_alarm", "arguments": {'), rest


@pytest.mark.parametrize(
    ("tools", "text"),
    [
        ([WEATHER], call("get_weather", '{"city": "Paris", "unit": "c"}')),
        (TOOLS, call("get_weather", '{"city": "Paris", "unit": "c"}')),
        (TOOLS, call("set_alarm", '{"time": "07:45", "days": ["mon", "wed"], "loud": true}')),
    ],
    ids=["one-tool", "four-tools-weather", "four-tools-alarm"],
)
def test_jump_forward_feeds_a_large_share_of_a_call(smollm2: Vocab, tools: list[dict[str, Any]], text: str) -> None:
    grammar = smollm2.engine.lark_grammar(HERMES.grammar(tools))
    c, forced, total = generate(smollm2, grammar, text)
    assert c.is_accepting() and c.is_stopped()
    assert smollm2.text(c.tokens) == text
    assert sum(c.forced_flags) == forced and len(c.forced_flags) == total
    assert forced / total > 0.3, f"forced {forced} of {total} tokens ({forced / total:.0%}) for {text!r}"
