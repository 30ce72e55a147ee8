"""Training targets end the way a run at inference ends: on a stop token the call grammar offers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tokenizers import AddedToken

from agent_sdk.runtime.tokenizer import Tokenizer
from agent_sdk.tune.render import PromptRenderer
from tests.fixtures.checkpoints import build_bpe_tokenizer

pytestmark = pytest.mark.unit

TOOLS = [{"name": "turn_on_lights", "description": "Turn on the lights in a room.",
          "parameters": {"type": "object", "properties": {"room": {"type": "string"}}, "required": ["room"]}}]
CALL = [{"name": "turn_on_lights", "arguments": {"room": "kitchen"}}]
CALL_TEXT = '<tool_call>\n{"name": "turn_on_lights", "arguments": {"room": "kitchen"}}\n</tool_call>'


def _tokenizer(folder: Path, *, stops: list[str], extra: tuple[str, ...] = ()) -> Tokenizer:
    """A byte-level BPE vocabulary without a chat template (the ChatML fallback renders the prompts)."""
    tok = build_bpe_tokenizer()
    if extra:
        tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in extra])
    folder.mkdir()
    tok.save(str(folder / "tokenizer.json"))
    ids = [tok.token_to_id(s) for s in stops]
    (folder / "tokenizer_meta.json").write_text(json.dumps({"eos_token_ids": ids, "eos_token": stops[0] if stops else None}))
    return Tokenizer(folder)


def _target(tok: Tokenizer, **kw: object) -> list[int]:
    ex = PromptRenderer(tok, TOOLS).render("turn on the kitchen lights", **kw)  # type: ignore[arg-type]
    return list(ex.ids[ex.target_start:ex.target_end])


def test_a_vocabulary_whose_stop_closes_the_template_turn_keeps_the_template_end(tmp_path: Path) -> None:
    tok = _tokenizer(tmp_path / "t", stops=["<|im_end|>"])  # SmolLM2: ChatML's end is its stop token
    target = _target(tok, calls=CALL)
    assert tok.decode(target) == CALL_TEXT + "<|im_end|>"
    assert target[-1] == tok.token_id("<|im_end|>")


def test_a_template_end_that_is_no_stop_token_becomes_the_turn_stop(tmp_path: Path) -> None:
    # Gemma 3 base: no template, so the ChatML fallback closes the turn with "<|im_end|>", which does not stop a run
    # in its vocabulary (its stops are <eos> and <end_of_turn>); trained on it, the model followed each call with more.
    tok = _tokenizer(tmp_path / "t", stops=["<eos>", "<end_of_turn>"], extra=("<eos>", "<end_of_turn>"))
    target = _target(tok, calls=CALL + CALL)
    assert tok.decode(target) == CALL_TEXT + "\n" + CALL_TEXT + "<end_of_turn>"
    assert target[-1] == tok.token_id("<end_of_turn>") and target.count(tok.token_id("<|im_end|>")) == 0
    plain = _tokenizer(tmp_path / "u", stops=["<eos>"], extra=("<eos>",))  # no turn stop: the first stop
    assert _target(plain, calls=CALL)[-1] == plain.token_id("<eos>")


def test_replies_and_stopless_vocabularies_are_unchanged(tmp_path: Path) -> None:
    tok = _tokenizer(tmp_path / "t", stops=["<eos>", "<end_of_turn>"], extra=("<eos>", "<end_of_turn>"))
    assert tok.decode(_target(tok, reply="I can't do that.")) == "I can't do that."
    none = _tokenizer(tmp_path / "u", stops=[])
    assert tok.decode(_target(none, calls=CALL)) == CALL_TEXT + "<|im_end|>"
