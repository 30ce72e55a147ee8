"""Tokenizer over bundle folders (tokenizer.json or tokenizer.model), streaming decode, chat templates.

References: the ``tokenizers`` and ``sentencepiece`` packages used directly on
the same files, and hand-written expected chat renderings.
"""

from __future__ import annotations

import json
from pathlib import Path

import jinja2
import pytest

from agent_sdk.errors import BundleError
from agent_sdk.runtime.tokenizer import FALLBACK_CHAT_TEMPLATE, StreamDecoder, Tokenizer
from tests.fixtures.checkpoints import CHATML_TEMPLATE, build_bpe_tokenizer, train_sentencepiece_model

pytestmark = pytest.mark.unit

TEXTS = [
    "héllo wörld ✓ 日本",
    "What is the capital of France? Paris is the capital of France.",
    "  leading spaces, tabs\tand\nnew lines\n",
    "emoji 🤖🚀 and symbols: ( ) [ ] { } < > + - * / = _ # @ & % ! ?",
    "1234567890 3.5% $19.99",
]
MULTIBYTE = "héllo wörld ✓ 日本"


@pytest.fixture(scope="module")
def bpe_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bpe")
    build_bpe_tokenizer().save(str(folder / "tokenizer.json"))
    meta = {
        "bos_token_id": 1, "eos_token_ids": [2], "add_bos": False, "chat_template": CHATML_TEMPLATE,
        "bos_token": "<|im_start|>", "eos_token": "<|im_end|>",
    }
    (folder / "tokenizer_meta.json").write_text(json.dumps(meta))
    return folder


@pytest.fixture(scope="module")
def sp_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sp")
    (folder / "tokenizer.model").write_bytes(train_sentencepiece_model())
    meta = {"bos_token_id": 1, "eos_token_ids": [2], "add_bos": True, "chat_template": None, "bos_token": "<s>", "eos_token": "</s>"}
    (folder / "tokenizer_meta.json").write_text(json.dumps(meta))
    return folder


@pytest.fixture(params=["bpe", "sp"])
def tok(request: pytest.FixtureRequest, bpe_dir: Path, sp_dir: Path) -> Tokenizer:
    return Tokenizer(bpe_dir if request.param == "bpe" else sp_dir)


# ---------------------------------------------------------------- encode/decode


@pytest.mark.parametrize("text", TEXTS)
def test_round_trip(tok: Tokenizer, text: str) -> None:
    ids = tok.encode(text, add_bos=False)
    assert ids and all(0 <= i < tok.vocab_size for i in ids)
    assert tok.decode(ids) == text


@pytest.mark.parametrize("text", TEXTS)
def test_bpe_ids_equal_the_tokenizers_package(bpe_dir: Path, text: str) -> None:
    from tokenizers import Tokenizer as HFTokenizer

    ref = HFTokenizer.from_file(str(bpe_dir / "tokenizer.json"))
    assert Tokenizer(bpe_dir).encode(text) == ref.encode(text, add_special_tokens=False).ids


@pytest.mark.parametrize("text", TEXTS)
def test_sp_ids_equal_the_sentencepiece_package(sp_dir: Path, text: str) -> None:
    import sentencepiece as spm

    ref = spm.SentencePieceProcessor(model_file=str(sp_dir / "tokenizer.model"))
    assert Tokenizer(sp_dir).encode(text) == [1] + ref.encode(text)


def test_add_bos_defaults_to_the_bundle_setting(bpe_dir: Path, sp_dir: Path) -> None:
    bpe, sp = Tokenizer(bpe_dir), Tokenizer(sp_dir)
    assert (bpe.add_bos, sp.add_bos) == (False, True)
    assert bpe.encode("Paris")[0] != 1
    assert bpe.encode("Paris", add_bos=True) == [1] + bpe.encode("Paris")
    assert sp.encode("Paris")[0] == 1
    assert sp.encode("Paris", add_bos=False) == sp.encode("Paris")[1:]
    # A BOS written in the text is not doubled.
    assert bpe.encode("<|im_start|>user", add_bos=True).count(1) == 1


def test_no_bos_id_means_no_bos(tmp_path: Path) -> None:
    build_bpe_tokenizer().save(str(tmp_path / "tokenizer.json"))
    (tmp_path / "tokenizer_meta.json").write_text(json.dumps({"add_bos": True, "bos_token_id": None}))
    t = Tokenizer(tmp_path)
    assert t.encode("Paris") == t.encode("Paris", add_bos=False)


def test_special_tokens_in_text(bpe_dir: Path) -> None:
    t = Tokenizer(bpe_dir)
    ids = t.encode("<|im_start|>user\nHi<|im_end|>\n")
    assert ids[0] == 1 and 2 in ids
    assert t.decode(ids) == "<|im_start|>user\nHi<|im_end|>\n"
    assert t.decode(ids, skip_special=True) == "user\nHi\n"
    assert (t.token_id("<|im_end|>"), t.token_to_str(2), t.token_id("no-such-piece")) == (2, "<|im_end|>", None)
    assert t.eos_token_ids == [2] and t.bos_token_id == 1


def test_sentencepiece_piece_lookup(sp_dir: Path) -> None:
    t = Tokenizer(sp_dir)
    assert [t.token_to_str(i) for i in range(3)] == ["<unk>", "<s>", "</s>"]
    assert (t.token_id("<unk>"), t.token_id("</s>"), t.token_id("no-such-piece")) == (0, 2, None)
    assert t.vocab_size == 384


def test_missing_or_broken_tokenizer_is_a_bundle_error(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="no tokenizer.json or tokenizer.model"):
        Tokenizer(tmp_path)
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(BundleError, match="tokenizer.json: cannot load tokenizer"):
        Tokenizer(tmp_path)
    (tmp_path / "tokenizer.json").unlink()
    (tmp_path / "tokenizer.model").write_bytes(b"\x00garbage")
    with pytest.raises(BundleError, match="tokenizer.model: cannot load tokenizer"):
        Tokenizer(tmp_path)


# ----------------------------------------------------------------- streaming


@pytest.mark.parametrize("text", TEXTS)
def test_stream_deltas_concatenate_to_the_decoded_text(tok: Tokenizer, text: str) -> None:
    ids = tok.encode(text)
    decoder = StreamDecoder(tok)
    deltas = [decoder.push(i) for i in ids]
    assert "".join(deltas) == tok.decode(ids) == text
    assert not any("\ufffd" in d for d in deltas)


def test_stream_holds_back_partial_characters(tok: Tokenizer) -> None:
    ids = tok.encode(MULTIBYTE)
    # Not vacuous: some prefixes of the ids end inside a character.
    assert any(tok.decode(ids[:i]).endswith("\ufffd") for i in range(1, len(ids)))
    decoder = StreamDecoder(tok)
    deltas = [decoder.push(i) for i in ids]
    assert "" in deltas
    assert "".join(deltas) == MULTIBYTE


@pytest.mark.parametrize("split", [3, 7, 12])
def test_stream_after_a_prompt_keeps_spacing(tok: Tokenizer, split: int) -> None:
    text = "What is the capital of France? Paris is the capital of France."
    ids = tok.encode(text)
    decoder = StreamDecoder(tok, ids[:split])
    out = "".join(decoder.push(i) for i in ids[split:])
    assert out == tok.decode(ids)[len(tok.decode(ids[:split])):]
    assert tok.decode(ids[:split]) + out == text


def test_stream_after_a_prompt_with_multibyte_text(tok: Tokenizer) -> None:
    p_ids = tok.encode("Réponds:")
    r_ids = tok.encode(" " + MULTIBYTE, add_bos=False)  # what the model would generate
    decoder = StreamDecoder(tok, p_ids)
    deltas = [decoder.push(i) for i in r_ids]
    assert "".join(deltas) == tok.decode(p_ids + r_ids)[len(tok.decode(p_ids)):]
    assert "".join(deltas).endswith(MULTIBYTE)
    assert not any("\ufffd" in d for d in deltas)


def test_stream_after_a_prefix_ending_inside_a_character(bpe_dir: Path) -> None:
    tok = Tokenizer(bpe_dir)
    ids = tok.encode("hé!")
    cut = next(i for i in range(1, len(ids)) if tok.decode(ids[:i]).endswith("\ufffd"))
    decoder = StreamDecoder(tok, ids[:cut])
    assert "".join(decoder.push(i) for i in ids[cut:]) == tok.decode(ids)[len(tok.decode(ids[:cut])) - 1 :]


# ------------------------------------------------------------ chat templates


def test_chatml_template_with_generation_prompt(bpe_dir: Path) -> None:
    t = Tokenizer(bpe_dir)
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    assert t.apply_chat_template(messages) == (
        "<|im_start|>system\nYou are a helpful AI assistant.<|im_end|>\n"
        "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    with_system = [{"role": "system", "content": "Be brief."}, *messages, {"role": "assistant", "content": "Paris."}]
    assert t.apply_chat_template(with_system, add_generation_prompt=False) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n"
        "<|im_start|>assistant\nParis.<|im_end|>\n"
    )


def test_rendered_chat_tokenizes_with_special_tokens(bpe_dir: Path) -> None:
    t = Tokenizer(bpe_dir)
    ids = t.encode(t.apply_chat_template([{"role": "user", "content": "Hi"}]))
    assert ids.count(1) == 3 and ids.count(2) == 2  # 3 x <|im_start|>, 2 x <|im_end|>


def test_fallback_to_chatml_without_a_template(sp_dir: Path) -> None:
    t = Tokenizer(sp_dir)
    assert t.chat_template is None
    messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "Hi"}]
    assert t.apply_chat_template(messages) == (
        "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    )
    assert t.apply_chat_template(messages, add_generation_prompt=False).endswith("Hi<|im_end|>\n")
    assert "<|im_start|>" in FALLBACK_CHAT_TEMPLATE


def test_template_variables_and_raise_exception(bpe_dir: Path) -> None:
    t = Tokenizer(bpe_dir)
    t.chat_template = "{{ bos_token }}{% for m in messages %}{{ m['content'] }}{% endfor %}{{ tools | length }}{{ eos_token }}"
    assert t.apply_chat_template([{"role": "user", "content": "x"}], tools=[1, 2]) == "<|im_start|>x2<|im_end|>"
    t.chat_template = "{% if messages[0]['role'] != 'user' %}{{ raise_exception('first message must be user') }}{% endif %}"
    with pytest.raises(jinja2.TemplateError, match="first message must be user"):
        t.apply_chat_template([{"role": "assistant", "content": "x"}])


@pytest.mark.parametrize(
    "template",
    ["{{ ''.__class__.__mro__[1].__subclasses__() }}", "{{ cycler.__init__.__globals__.os.system('true') }}"],
)
def test_template_from_a_model_file_is_sandboxed(bpe_dir: Path, template: str) -> None:
    t = Tokenizer(bpe_dir)
    t.chat_template = template
    with pytest.raises(jinja2.exceptions.SecurityError):
        t.apply_chat_template([{"role": "user", "content": "x"}])
