"""GGUF SentencePiece tokenizers rebuilt as tokenizers BPE, against the sentencepiece library.

Tiny SentencePiece BPE models are trained in memory (Gemma style: no space
prefix, user-defined and control pieces; Llama 2 style: space prefix), written
into GGUF files the way llama.cpp's converter writes them, and rebuilt by
:func:`gguf_tokenizer`. The reference is the original trained model loaded in
sentencepiece: an independent implementation of the same algorithm.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sentencepiece as spm
from tokenizers import Tokenizer as HFTokenizer

from agent_sdk.errors import ModelFormatError
from agent_sdk.models.checkpoint_io import read_gguf
from agent_sdk.models.gguf_tokenizer import GGUF_TOKEN_BYTE, GGUF_TOKEN_CONTROL, gguf_tokenizer
from agent_sdk.runtime.tokenizer import StreamDecoder, Tokenizer
from tests.fixtures.spm_gguf import tokenizer_test_strings, train_spm, write_spm_gguf

pytestmark = pytest.mark.unit

SPACE = "\u2581"
N_STRINGS = 1500
# Gemma's GGUF: <start_of_turn>/<end_of_turn> are control tokens, whitespace runs and HTML tags user-defined
# (stored with ▁ in the SentencePiece model; the converter writes spaces).
GEMMA_USER = ("<start_of_image>", SPACE * 2, SPACE * 3, SPACE * 4, "\n", "\n\n", "\t", "\t\t", "<b>", "</b>", "[multimodal]")
GEMMA_CONTROL = ("<mask>", "<start_of_turn>", "<end_of_turn>", "<unused0>")
LLAMA_USER = ("<b>", "</b>")


class Built:
    """A trained model, its GGUF file and the rebuilt tokenizer."""

    def __init__(self, path: Path, model: bytes) -> None:
        self.path = path
        self.model = model
        self.sp = spm.SentencePieceProcessor(model_proto=model)
        self.raw, self.meta = gguf_tokenizer(read_gguf(path), path)
        self.hf = HFTokenizer.from_str(self.raw.decode())
        # Like sentencepiece (and llama.cpp's parse_special=False): control-token text is plain text.
        self.plain = HFTokenizer.from_str(self.raw.decode())
        self.plain.encode_special_tokens = True

    def ids(self, text: str) -> list[int]:
        return list(self.plain.encode(text, add_special_tokens=False).ids)


@pytest.fixture(scope="module")
def gemma_style(tmp_path_factory: pytest.TempPathFactory) -> Built:
    model = train_spm(add_dummy_prefix=False, user_defined=GEMMA_USER, control=GEMMA_CONTROL)
    return Built(write_spm_gguf(tmp_path_factory.mktemp("spm") / "gemma-style.gguf", model), model)


@pytest.fixture(scope="module")
def llama_style(tmp_path_factory: pytest.TempPathFactory) -> Built:
    model = train_spm(add_dummy_prefix=True, user_defined=LLAMA_USER, control=("<unused0>",))
    return Built(write_spm_gguf(tmp_path_factory.mktemp("spm") / "llama-style.gguf", model), model)


def _mismatches(built: Built, strings: list[str]) -> list[tuple[str, list[str], list[str]]]:
    out = []
    for s in strings:
        ours, ref = built.ids(s), built.sp.EncodeAsIds(s)
        if ours != ref:
            out.append((s, [built.plain.id_to_token(i) for i in ours], [built.sp.IdToPiece(i) for i in ref]))
    return out


def test_gemma_style_encodes_like_sentencepiece(gemma_style: Built) -> None:
    strings = tokenizer_test_strings(N_STRINGS, seed=11)
    bad = _mismatches(gemma_style, strings)
    assert not bad, f"{len(bad)} of {len(strings)} differ; first: {bad[:3]}"
    # The strings exercise what they should: byte fallback, user-defined runs, digits kept apart.
    ids = [i for s in strings for i in gemma_style.ids(s)]
    types = read_gguf(gemma_style.path).metadata["tokenizer.ggml.token_type"]
    assert sum(types[i] == GGUF_TOKEN_BYTE for i in ids) > 1000
    assert gemma_style.ids("  \t\t\n\n") == [gemma_style.sp.PieceToId(p) for p in (SPACE * 2, "\t\t", "\n\n")]
    assert gemma_style.ids("2024") == [gemma_style.sp.PieceToId(d) for d in "2024"]


def test_gemma_style_user_defined_tokens_match_spaces_and_written_meta_spaces(gemma_style: Built) -> None:
    three = gemma_style.sp.PieceToId(SPACE * 3)
    assert gemma_style.ids("a   b") == gemma_style.sp.EncodeAsIds("a   b")
    assert three in gemma_style.ids("a   b")
    assert gemma_style.ids(f"a{SPACE * 3}b") == gemma_style.sp.EncodeAsIds(f"a{SPACE * 3}b")
    assert three in gemma_style.ids(f"a{SPACE * 3}b")


def test_llama_style_encodes_like_sentencepiece(llama_style: Built) -> None:
    strings = [s for s in tokenizer_test_strings(N_STRINGS, seed=12) if not any(u in s for u in LLAMA_USER)]
    assert len(strings) > N_STRINGS * 0.9
    bad = _mismatches(llama_style, strings)
    assert not bad, f"{len(bad)} of {len(strings)} differ; first: {bad[:3]}"
    assert llama_style.plain.encode("hi", add_special_tokens=False).tokens[0].startswith(SPACE)


def test_llama_style_prefixes_text_after_a_user_defined_token_as_llama_cpp_does(llama_style: Built) -> None:
    """The one documented difference from sentencepiece (which prefixes only the start of the text)."""
    b = llama_style.sp.PieceToId("<b>")
    ours = llama_style.ids("<b>hi")
    assert ours[0] == b and ours[1:] == llama_style.sp.EncodeAsIds("hi")
    assert llama_style.sp.EncodeAsIds("<b>hi")[:2] == [llama_style.sp.PieceToId(SPACE), b]


@pytest.mark.parametrize("prefix", [False, True])
def test_without_byte_tokens_unknown_characters_become_one_unknown_token(tmp_path: Path, prefix: bool) -> None:
    model = train_spm(byte_fallback=False, vocab_size=400, add_dummy_prefix=prefix)
    built = Built(write_spm_gguf(tmp_path / "nobytes.gguf", model), model)
    strings = tokenizer_test_strings(500, seed=13)
    bad = _mismatches(built, strings)
    assert not bad, f"{len(bad)} of {len(strings)} differ; first: {bad[:3]}"
    unk = built.sp.unk_id()
    assert built.ids("a\U0001f9ff\U0001f9fe b").count(unk) == 1


def test_control_tokens_in_text_are_special_by_default(gemma_style: Built) -> None:
    turn = gemma_style.sp.PieceToId("<start_of_turn>")
    ids = gemma_style.hf.encode("<start_of_turn>user\nhi", add_special_tokens=False).ids
    assert ids[0] == turn
    assert turn not in gemma_style.ids("<start_of_turn>user\nhi")
    types = read_gguf(gemma_style.path).metadata["tokenizer.ggml.token_type"]
    assert types[turn] == GGUF_TOKEN_CONTROL


def test_decode_matches_sentencepiece(gemma_style: Built, llama_style: Built) -> None:
    for built in (gemma_style, llama_style):
        for s in tokenizer_test_strings(400, seed=14):
            ids = built.sp.EncodeAsIds(s)
            assert built.hf.decode(ids, skip_special_tokens=False) == built.sp.DecodeIds(ids), repr(s)


def test_round_trip_without_written_meta_spaces(gemma_style: Built, llama_style: Built) -> None:
    for built in (gemma_style, llama_style):
        for s in tokenizer_test_strings(400, seed=15):
            if SPACE in s or (built is llama_style and any(u in s for u in LLAMA_USER)):
                continue  # ▁ decodes to a space; see the llama-style prefix test
            assert built.hf.decode(built.ids(s), skip_special_tokens=False) == s


def _bundle_tokenizer(built: Built, folder: Path) -> Tokenizer:
    folder.mkdir(exist_ok=True)
    (folder / "tokenizer.json").write_bytes(built.raw)
    (folder / "tokenizer_meta.json").write_text(json.dumps(built.meta))
    return Tokenizer(folder)


def test_streaming_byte_fallback_pieces_prints_whole_characters(gemma_style: Built, tmp_path: Path) -> None:
    tok = _bundle_tokenizer(gemma_style, tmp_path / "bundle")
    text = "Grüße 👩‍💻 中文 ok\U0001f9ff!"
    ids = tok.encode(text, add_bos=False)
    types = read_gguf(gemma_style.path).metadata["tokenizer.ggml.token_type"]
    assert sum(types[i] == GGUF_TOKEN_BYTE for i in ids) >= 8  # characters outside the tiny vocabulary
    stream = StreamDecoder(tok)
    deltas = [stream.push(i) for i in ids]
    assert "".join(deltas) == text
    assert not any("\ufffd" in d for d in deltas)


def test_runtime_tokenizer_meta_and_bos(gemma_style: Built, tmp_path: Path) -> None:
    meta = gemma_style.meta
    sp = gemma_style.sp
    assert meta["bos_token_id"] == sp.bos_id() and meta["bos_token"] == "<s>"
    # <end_of_turn> ends a turn as it does in llama.cpp, after the file's EOS.
    assert meta["eos_token_ids"] == [sp.eos_id(), sp.PieceToId("<end_of_turn>")]
    assert meta["unk_token_id"] == sp.unk_id() and meta["pad_token_id"] == sp.pad_id()
    assert meta["add_bos"] is True
    tok = _bundle_tokenizer(gemma_style, tmp_path / "bundle")
    assert tok.vocab_size == sp.GetPieceSize()
    assert tok.encode("hi") == [sp.bos_id(), *sp.EncodeAsIds("hi")]


# ------------------------------------------------------------------ hostile


def _metadata(built: Built) -> dict[str, Any]:
    md = read_gguf(built.path).metadata
    return {k: v for k, v in md.items() if k.startswith("tokenizer.")}


@pytest.fixture(scope="module")
def hostile(gemma_style: Built, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Exception]:
    base = _metadata(gemma_style)
    folder = tmp_path_factory.mktemp("hostile")
    count = iter(range(10**6))

    def build(**changes: Any) -> Exception:
        md = dict(base)
        for key, value in changes.items():
            key = "tokenizer.ggml." + key
            if value is None:
                md.pop(key, None)
            else:
                md[key] = value
        path = write_spm_gguf(folder / f"h{next(count)}.gguf", metadata=md)
        with pytest.raises(ModelFormatError) as info:
            gguf_tokenizer(read_gguf(path), path)
        assert str(path) in str(info.value)
        return info.value

    return build


def test_hostile_list_lengths(hostile: Callable[..., Exception], gemma_style: Built) -> None:
    md = _metadata(gemma_style)
    n = len(md["tokenizer.ggml.tokens"])
    assert f"{n - 1} token scores for {n} tokens" in str(hostile(scores=md["tokenizer.ggml.scores"][:-1]))
    assert f"{n + 1} token types for {n} tokens" in str(hostile(token_type=md["tokenizer.ggml.token_type"] + [1]))
    assert "tokenizer.ggml.scores is missing" in str(hostile(scores=None))
    assert "tokenizer.ggml.tokens is missing" in str(hostile(tokens=None))


def test_hostile_ids_and_values(hostile: Callable[..., Exception], gemma_style: Built) -> None:
    md = _metadata(gemma_style)
    n = len(md["tokenizer.ggml.tokens"])
    assert f"bos_token_id is {n}, outside the {n} tokens" in str(hostile(bos_token_id=n))
    assert "eos_token_id is -1" in str(hostile(eos_token_id=-1))
    assert "unknown_token_id is 'x'" in str(hostile(unknown_token_id="x"))
    assert "add_space_prefix is 1" in str(hostile(add_space_prefix=1))
    assert "scores is not a list of float" in str(hostile(scores=["a"] * n))
    assert "GGUF tokenizer model 'bert' is not supported" in str(hostile(model="bert"))


def test_hostile_vocabulary(hostile: Callable[..., Exception], gemma_style: Built) -> None:
    md = _metadata(gemma_style)
    tokens, types = list(md["tokenizer.ggml.tokens"]), list(md["tokenizer.ggml.token_type"])
    first_byte = types.index(GGUF_TOKEN_BYTE)
    assert "token 7 has type 9" in str(hostile(token_type=types[:7] + [9] + types[8:]))
    dup = tokens[:20] + [tokens[19]] + tokens[21:]
    assert f"tokens 19 and 20 are both {tokens[19]!r}" in str(hostile(tokens=dup))
    assert "token 20 is empty" in str(hostile(tokens=tokens[:20] + [""] + tokens[21:]))
    bad_byte = tokens[:first_byte] + ["<0xZZ>"] + tokens[first_byte + 1:]
    assert f"byte token {first_byte} is '<0xZZ>'" in str(hostile(tokens=bad_byte))
    no_byte = types[:first_byte] + [1] + types[first_byte + 1:]
    assert "255 of the 256 byte tokens (<0x00> is missing)" in str(hostile(token_type=no_byte))
    assert "has score nan" in str(hostile(scores=[float("nan")] + list(md["tokenizer.ggml.scores"][1:])))
    no_unk = [1 if t in (GGUF_TOKEN_BYTE, 2) else t for t in types]
    assert "neither byte tokens nor an unknown token" in str(hostile(token_type=no_unk, unknown_token_id=None))


def test_llguidance_from_the_loaded_tokenizer_equals_llguidance_from_json(gemma_style: Built, tmp_path: Path) -> None:
    """The faster path GrammarEngine.for_engine takes for SentencePiece tokenizers: same tokens, same masks."""
    from agent_sdk.constrain.grammar import GrammarEngine

    tok = _bundle_tokenizer(gemma_style, tmp_path / "bundle")
    n = tok.vocab_size
    token_bytes = tok.token_bytes()
    assert token_bytes is not None and token_bytes[tok.token_id("<0xE4>")] == b"\xe4"
    assert token_bytes[tok.token_id("  ")] == b"  "  # user-defined ▁▁: the GGUF stores spaces
    raw = gemma_style.raw.decode()
    from_json = GrammarEngine(raw, vocab_size=n, eos_token_ids=gemma_style.meta["eos_token_ids"])
    loaded = GrammarEngine(raw, vocab_size=n, eos_token_ids=gemma_style.meta["eos_token_ids"], tokenizer=tok)
    a, b = from_json.tokenizer, loaded.tokenizer
    assert [a.decode_bytes([i]) for i in range(n)] == [b.decode_bytes([i]) for i in range(n)]
    assert [a.is_special_token(i) for i in range(n)] == [b.is_special_token(i) for i in range(n)]
    assert b.is_special_token(tok.token_id("<b>"))  # a tag-like user-defined token, as llguidance reads tokenizer.json
    grammar = from_json.json_grammar({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})
    ids = tok.encode('{"city": "Grüße aus 東京 👩\u200d💻\\n"}', add_bos=False)
    ca, cb = from_json.constraint(grammar), loaded.constraint(grammar)
    for i in ids:
        assert (ca.allowed() == cb.allowed()).all()
        assert ca.forced_tokens() == cb.forced_tokens()
        ca.accept(i)
        cb.accept(i)
    assert ca.is_accepting() and cb.is_accepting()


def test_token_bytes_only_for_sentencepiece_style(tmp_path: Path) -> None:
    from tests.fixtures.checkpoints import build_bpe_tokenizer

    folder = tmp_path / "bpe"
    folder.mkdir()
    build_bpe_tokenizer().save(str(folder / "tokenizer.json"))
    assert Tokenizer(folder).token_bytes() is None  # byte-level BPE: llguidance reads tokenizer.json itself


def test_token_bytes_without_a_decoder_is_none(tmp_path: Path) -> None:
    from tokenizers import models

    HFTokenizer(models.BPE(vocab={"a": 0, "b": 1}, merges=[])).save(str(tmp_path / "tokenizer.json"))
    assert Tokenizer(tmp_path).token_bytes() is None


@pytest.mark.parametrize("kind", ["user_defined", "control"])
def test_a_functiongemma_gguf_vocabulary_gets_the_native_call_format_and_its_grammar(kind: str, tmp_path: Path) -> None:
    """FunctionGemma's control tokens in a SentencePiece GGUF (user-defined or control pieces): the runtime tokenizer
    reads them from text as single tokens, the agent picks FunctionGemma's format, and the call grammar accepts the
    rendered call token by token through the faster loaded-tokenizer path llguidance uses for such bundles."""
    from agent_sdk.agent.format_choice import native_call_format
    from agent_sdk.agent.functiongemma_format import CONTROL_TOKENS, FUNCTIONGEMMA
    from agent_sdk.constrain.grammar import GrammarEngine

    extra = {"user_defined": GEMMA_USER + CONTROL_TOKENS} if kind == "user_defined" else {
        "user_defined": GEMMA_USER, "control": GEMMA_CONTROL + CONTROL_TOKENS}
    model = train_spm(add_dummy_prefix=False, **{"control": GEMMA_CONTROL, **extra})
    built = Built(write_spm_gguf(tmp_path / "fg.gguf", model), model)
    tok = _bundle_tokenizer(built, tmp_path / "bundle")
    assert native_call_format(tok) is FUNCTIONGEMMA
    call = FUNCTIONGEMMA.render_call("set_timer", {"label": "tea, 3 min", "minutes": 3})
    ids = tok.encode(call, add_bos=False)
    assert ids[0] == tok.token_id("<start_function_call>") and ids.count(tok.token_id("<escape>")) == 2
    engine = GrammarEngine(built.raw.decode(), vocab_size=tok.vocab_size, eos_token_ids=built.meta["eos_token_ids"],
                           tokenizer=tok)
    tools = [{"name": "set_timer", "parameters": {"type": "object", "properties": {
        "label": {"type": "string"}, "minutes": {"type": "integer"}}, "required": ["minutes"]}}]
    c = engine.constraint(FUNCTIONGEMMA.grammar(tools))
    for i in ids:
        c.accept(i)
    assert c.is_accepting()
    assert FUNCTIONGEMMA.parse(tok.decode(ids)).calls[0].arguments == {"label": "tea, 3 min", "minutes": 3}
