"""BFCL function docs to JSON Schema, checked on the real BFCL v4 files.

The real data lives next to the repository (``../shared/eval/bfcl``, read-only).
Every converted schema must be a valid Draft 2020-12 schema, compile into a
tool-call grammar with the SmolLM2 tokenizer, and agree with the reference
answers: the grammar must accept a reference call exactly when ``jsonschema``
says it is valid.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from tokenizers import Tokenizer

from agent_sdk.eval.bfcl_data import CATEGORIES, BFCLQuestion, bfcl_to_json_schema, function_to_tool, load_bfcl
from agent_sdk.constrain.grammar import GrammarEngine
from agent_sdk.agent.call_format import HERMES
from agent_sdk.errors import AgentSDKError, UserError
from agent_sdk.models.checkpoint_io import read_gguf
from agent_sdk.models.mobilellm.mobilellm_loader import gguf_tokenizer

pytestmark = pytest.mark.unit

REPO_ROOT = Path(__file__).resolve().parents[2]
BFCL_DIR = REPO_ROOT.parent / "shared" / "eval" / "bfcl"
ANSWERED = [
    "simple_python", "multiple", "parallel", "parallel_multiple",
    "live_simple", "live_multiple", "live_parallel", "live_parallel_multiple",
]  # fmt: skip


def valid(schema: dict[str, Any], value: Any) -> bool:
    return jsonschema.Draft202012Validator(schema).is_valid(value)


# --------------------------------------------------------------------------- conversion rules


@pytest.mark.parametrize(
    ("bfcl", "schema"),
    [
        ({"type": "float"}, {"type": "number"}),
        ({"type": "double"}, {"type": "number"}),
        ({"type": "integer"}, {"type": "integer"}),
        ({"type": "int"}, {"type": "integer"}),
        ({"type": "long"}, {"type": "integer"}),
        ({"type": "string"}, {"type": "string"}),
        ({"type": "str"}, {"type": "string"}),
        ({"type": "boolean"}, {"type": "boolean"}),
        ({"type": "bool"}, {"type": "boolean"}),
        ({"type": "any", "description": "Anything."}, {"description": "Anything."}),
        ({"description": "No type given."}, {"description": "No type given."}),
        ({"type": "tuple", "items": {"type": "float"}}, {"type": "array", "items": {"type": "number"}}),
        ({"type": "list", "items": {"type": "str"}}, {"type": "array", "items": {"type": "string"}}),
        ({"type": "array"}, {"type": "array"}),
        ({"type": "dict"}, {"type": "object"}),  # no properties: any object
        (
            {"type": "string", "enum": ["asc", "desc"], "default": "asc"},
            {"type": "string", "enum": ["asc", "desc"], "default": "asc"},
        ),
        ({"type": "integer", "default": None}, {"type": "integer", "default": None}),
        ({"type": "string", "description": 3}, {"type": "string"}),  # a non-string description is dropped
        ({"type": "String"}, {"type": "string"}),  # unknown spellings fall back to string
        ({"type": "string", "enum": [1, 2, 3]}, {"enum": [1, 2, 3]}),  # enum values that contradict the type win
    ],
)
def test_bfcl_types_map_to_json_schema(bfcl: dict[str, Any], schema: dict[str, Any]) -> None:
    assert bfcl_to_json_schema(bfcl) == schema


def test_dict_becomes_a_closed_object_with_its_required_keys() -> None:
    schema = bfcl_to_json_schema(
        {
            "type": "dict",
            "description": "Where.",
            "properties": {
                "city": {"type": "string"},
                "point": {
                    "type": "dict",
                    "properties": {"lat": {"type": "float"}, "lon": {"type": "float"}},
                    "required": ["lat", "lon", "alt"],  # 'alt' is not a property: dropped
                },
                "tags": {"type": "array", "items": {"type": "dict", "properties": {"k": {"type": "str"}}}},
            },
            "required": ["city"],
        }
    )
    assert schema == {
        "type": "object",
        "description": "Where.",
        "properties": {
            "city": {"type": "string"},
            "point": {
                "type": "object",
                "properties": {"lat": {"type": "number"}, "lon": {"type": "number"}},
                "required": ["lat", "lon"],
                "additionalProperties": False,
            },
            "tags": {
                "type": "array",
                "items": {"type": "object", "properties": {"k": {"type": "string"}}, "additionalProperties": False},
            },
        },
        "required": ["city"],
        "additionalProperties": False,
    }
    jsonschema.Draft202012Validator.check_schema(schema)
    assert valid(schema, {"city": "Oslo", "point": {"lat": 59.9, "lon": 10}, "tags": [{"k": "x"}]})
    assert not valid(schema, {"point": {"lat": 1, "lon": 2}})  # city missing
    assert not valid(schema, {"city": "Oslo", "country": "NO"})  # closed
    assert not valid(schema, {"city": "Oslo", "point": {"lat": 1}})  # nested required
    assert not valid(schema, {"city": "Oslo", "tags": [{"k": "x", "v": 1}]})  # items closed


def test_function_to_tool() -> None:
    fn = {
        "name": "math.hypot",
        "description": "Euclidean norm.",
        "parameters": {
            "type": "dict",
            "properties": {"x": {"type": "integer"}, "y": {"type": "integer"}, "z": {"type": "integer", "default": 0}},
            "required": ["x", "y"],
        },
    }
    assert function_to_tool(fn) == {
        "name": "math.hypot",
        "description": "Euclidean norm.",
        "parameters": {
            "type": "object",
            "properties": {"x": {"type": "integer"}, "y": {"type": "integer"}, "z": {"type": "integer", "default": 0}},
            "required": ["x", "y"],
            "additionalProperties": False,
        },
    }
    assert function_to_tool({"name": "ping"}) == {
        "name": "ping",
        "description": "",
        "parameters": {"type": "object", "properties": {}, "additionalProperties": False},
    }
    # BFCL sometimes writes the top level as "object" or leaves the type out: it is always an object.
    tool = function_to_tool({"name": "f", "parameters": {"properties": {"a": {"type": "str"}}, "description": "x"}})
    assert tool["parameters"] == {
        "type": "object",
        "properties": {"a": {"type": "string"}},
        "additionalProperties": False,
    }


def test_enum_on_an_array_constrains_its_items() -> None:
    schema = bfcl_to_json_schema(
        {"type": "array", "items": {"type": "string"}, "enum": ["temperature", "humidity", "co2"], "default": []}
    )
    assert valid(schema, ["temperature", "humidity"])
    assert valid(schema, [])
    assert not valid(schema, ["wind"])


# --------------------------------------------------------------------------- load_bfcl


def test_load_bfcl_reads_questions(tmp_path: Path) -> None:
    line: dict[str, Any] = {
        "id": "simple_python_0",
        "question": [[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Area of 10x5?"}]],
        "function": [{"name": "area", "parameters": {"type": "dict", "properties": {"b": {"type": "integer"}}}}],
    }
    (tmp_path / "BFCL_v4_simple_python.json").write_text(
        "\n".join(json.dumps({**line, "id": f"simple_python_{i}"}) for i in range(3)) + "\n\n"
    )
    (tmp_path / "BFCL_v4_irrelevance.json").write_text(json.dumps({**line, "id": "irrelevance_0"}) + "\n")
    qs = list(load_bfcl(tmp_path))
    assert [q.id for q in qs] == ["simple_python_0", "simple_python_1", "simple_python_2", "irrelevance_0"]
    assert [q.category for q in qs] == ["simple_python"] * 3 + ["irrelevance"]
    assert qs[0] == BFCLQuestion(
        "simple_python_0", "simple_python", line["question"][0], [function_to_tool(line["function"][0])]
    )
    assert [q.id for q in load_bfcl(tmp_path, ["irrelevance", "simple_python"], limit=1)] == [
        "irrelevance_0",
        "simple_python_0",
    ]
    with pytest.raises(UserError, match="BFCL_v4_multiple.json"):
        list(load_bfcl(tmp_path, ["multiple"]))
    with pytest.raises(UserError, match="no such folder"):
        list(load_bfcl(tmp_path / "missing"))


# --------------------------------------------------------------------------- the real data


@pytest.fixture(scope="module")
def bfcl_dir() -> Path:
    if not (BFCL_DIR / "BFCL_v4_simple_python.json").exists():
        pytest.fail(f"BFCL data not found at {BFCL_DIR} (the repository expects ../shared/eval/bfcl next to it)")
    return BFCL_DIR


@pytest.fixture(scope="module")
def questions(bfcl_dir: Path) -> list[dict[str, Any]]:
    """Every raw question of every BFCL_v4_*.json file."""
    out = []
    for path in sorted(bfcl_dir.glob("BFCL_v4_*.json")):
        out += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return out


@pytest.fixture(scope="module")
def smollm2_tokenizer_json(smollm2_gguf: Path) -> str:
    return gguf_tokenizer(read_gguf(smollm2_gguf), smollm2_gguf)[0].decode()


@pytest.fixture(scope="module")
def tokenizer(smollm2_tokenizer_json: str) -> Tokenizer:
    return Tokenizer.from_str(smollm2_tokenizer_json)


@pytest.fixture(scope="module")
def engine(smollm2_tokenizer_json: str) -> GrammarEngine:
    return GrammarEngine(smollm2_tokenizer_json, vocab_size=49152, eos_token_ids=[2], cache_size=4096)


def test_load_bfcl_on_the_real_data(bfcl_dir: Path) -> None:
    counts: dict[str, int] = {}
    for q in load_bfcl(bfcl_dir):
        counts[q.category] = counts.get(q.category, 0) + 1
        assert q.messages and all(m["role"] in ("system", "user", "assistant") for m in q.messages), q.id
        assert all(t["parameters"]["type"] == "object" for t in q.tools), q.id
    assert counts == {
        "simple_python": 400, "multiple": 200, "parallel": 200, "parallel_multiple": 200, "irrelevance": 240,
        "live_simple": 54, "live_multiple": 199, "live_parallel": 2, "live_parallel_multiple": 6,
        "live_irrelevance": 120, "live_relevance": 2,
    }  # fmt: skip
    assert list(counts) == [c for c in CATEGORIES if c in counts]


def test_every_bfcl_function_converts_to_a_valid_schema_and_grammar(
    questions: list[dict[str, Any]], engine: GrammarEngine
) -> None:
    bad_schema: list[str] = []
    bad_grammar: list[str] = []
    checked: set[str] = set()  # metaschema validation is slow (~1 ms); identical schemas are checked once
    n_functions = 0
    without_functions = []
    for q in questions:
        tools = [function_to_tool(fn) for fn in q["function"]]
        if not tools:
            without_functions.append(q["id"])
            continue
        n_functions += len(tools)
        for t in tools:
            key = json.dumps(t["parameters"], sort_keys=True)
            if key in checked:
                continue
            checked.add(key)
            try:
                jsonschema.Draft202012Validator.check_schema(t["parameters"])
            except jsonschema.SchemaError as exc:
                bad_schema.append(f"{q['id']} {t['name']}: {exc.message}")
        try:
            engine.lark_grammar(HERMES.grammar(tools))
        except AgentSDKError:
            for t in tools:  # which function of the question
                try:
                    engine.lark_grammar(HERMES.grammar([t]))
                except AgentSDKError as exc:
                    bad_grammar.append(f"{q['id']} {t['name']}: {exc}")
    assert len(questions) == 1623 and n_functions == 2992
    assert without_functions == ["live_irrelevance_123-9-3"]
    assert not bad_schema, f"{len(bad_schema)} of {len(checked)} distinct schemas invalid:\n" + "\n".join(bad_schema)
    assert not bad_grammar, f"{len(bad_grammar)} of {n_functions} grammars fail:\n" + "\n".join(bad_grammar)


def first_values(alternatives: dict[str, list[Any]], schema: dict[str, Any]) -> dict[str, Any]:
    """The first accepted value of each parameter, in the schema's key order.

    ``""`` first means an optional parameter may be left out. Nested dicts in
    BFCL answers map their keys to lists of accepted values too (BFCL's
    checker reads them that way), so they resolve the same way.
    """
    props = schema.get("properties", {})
    required = set(schema.get("required", []))
    args: dict[str, Any] = {}
    for key in [*props, *(k for k in alternatives if k not in props)]:
        if key not in alternatives:
            continue
        value = alternatives[key][0]
        if value == "" and key not in required:
            continue
        args[key] = _first_value(value, props.get(key, {}))
    return args


def _first_value(value: Any, schema: dict[str, Any]) -> Any:
    if isinstance(value, dict) and value and all(isinstance(v, list) for v in value.values()):
        return first_values(value, schema)
    if isinstance(value, list) and schema.get("type") == "array":
        return [_first_value(v, schema.get("items", {})) for v in value]
    return value


def reference_answers(
    bfcl_dir: Path, category: str
) -> list[tuple[str, list[dict[str, Any]], list[tuple[str, dict[str, Any]]]]]:
    """(id, tools, expected calls as (name, arguments)) of every question of a category."""
    raw = {q["id"]: q for q in map(json.loads, (bfcl_dir / f"BFCL_v4_{category}.json").read_text().splitlines())}
    out = []
    for line in (bfcl_dir / "possible_answer" / f"BFCL_v4_{category}.json").read_text().splitlines():
        answer = json.loads(line)
        tools = [function_to_tool(fn) for fn in raw[answer["id"]]["function"]]
        by_name = {t["name"]: t for t in tools}
        calls = []
        for expected in answer["ground_truth"]:
            ((name, alternatives),) = expected.items()
            calls.append((name, first_values(alternatives, by_name[name]["parameters"])))
        out.append((answer["id"], tools, calls))
    return out


def test_simple_python_reference_answers_fit_their_converted_schemas(bfcl_dir: Path) -> None:
    answers = reference_answers(bfcl_dir, "simple_python")
    failing = []
    for qid, tools, [(name, args)] in answers:
        if not valid(next(t for t in tools if t["name"] == name)["parameters"], args):
            failing.append((qid, name, args))
    rate = 1 - len(failing) / len(answers)
    assert len(answers) == 400
    assert rate >= 0.95, f"{rate:.2%} of reference answers valid; failing: {failing}"


def test_grammar_accepts_reference_calls_exactly_when_jsonschema_does(
    bfcl_dir: Path, engine: GrammarEngine, tokenizer: Tokenizer
) -> None:
    disagree = []
    n_questions = n_calls = 0
    for category in ANSWERED:
        for qid, tools, calls in reference_answers(bfcl_dir, category):
            by_name = {t["name"]: t for t in tools}
            schema_ok = all(valid(by_name[name]["parameters"], args) for name, args in calls)
            # Parallel answers are written as consecutive blocks, as the model would.
            text = "\n".join(
                HERMES.open + json.dumps({"name": name, "arguments": args}, ensure_ascii=False) + HERMES.close
                for name, args in calls
            )
            grammar = engine.lark_grammar(HERMES.grammar(tools, parallel=len(calls) > 1))
            c = engine.constraint(grammar)
            try:
                for t in tokenizer.encode(text, add_special_tokens=False).ids:
                    c.accept(t)
                grammar_ok = c.is_accepting()
            except AgentSDKError:
                grammar_ok = False
            n_questions += 1
            n_calls += len(calls)
            if grammar_ok != schema_ok:
                disagree.append(f"{qid}: jsonschema {schema_ok}, grammar {grammar_ok}: {text!r}")
    assert (n_questions, n_calls) == (1261, 2023)
    assert not disagree, f"{len(disagree)} of {n_questions} reference answers:\n" + "\n".join(disagree)
