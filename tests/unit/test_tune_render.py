"""Training targets end the way a run at inference ends: on a stop token the call grammar offers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tokenizers import AddedToken

from agent_sdk.runtime.tokenizer import FALLBACK_CHAT_TEMPLATE, Tokenizer
from agent_sdk.tune.render import PromptRenderer
from tests.fixtures.checkpoints import build_bpe_tokenizer

pytestmark = pytest.mark.unit

TOOLS = [{"name": "turn_on_lights", "description": "Turn on the lights in a room.",
          "parameters": {"type": "object", "properties": {"room": {"type": "string"}}, "required": ["room"]}}]
CALL = [{"name": "turn_on_lights", "arguments": {"room": "kitchen"}}]
CALL_TEXT = '<tool_call>\n{"name": "turn_on_lights", "arguments": {"room": "kitchen"}}\n</tool_call>'


def _tokenizer(folder: Path, *, stops: list[str], extra: tuple[str, ...] = (), template: str | None = None) -> Tokenizer:
    """A byte-level BPE vocabulary without a chat template (the ChatML fallback renders the prompts)."""
    tok = build_bpe_tokenizer()
    if extra:
        tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in extra])
    folder.mkdir()
    tok.save(str(folder / "tokenizer.json"))
    ids = [tok.token_to_id(s) for s in stops]
    meta = {"eos_token_ids": ids, "eos_token": stops[0] if stops else None, "chat_template": template}
    (folder / "tokenizer_meta.json").write_text(json.dumps(meta))
    return Tokenizer(folder)


def _target(tok: Tokenizer, *, stop_ids: tuple[int, ...] = (), **kw: object) -> list[int]:
    ex = PromptRenderer(tok, TOOLS, stop_ids=stop_ids).render("turn on the kitchen lights", **kw)  # type: ignore[arg-type]
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
    assert none.decode(_target(none, calls=CALL)) == CALL_TEXT + "<|im_end|>"


def test_template_text_before_the_stop_is_dropped_for_the_stop(tmp_path: Path) -> None:
    # ChatML then the stop token: the turn's "<|im_end|>" text would come where the call grammar allows only a stop.
    template = FALLBACK_CHAT_TEMPLATE.replace("<|im_end|>\n", "<|im_end|>\n{{ eos_token }}")
    tok = _tokenizer(tmp_path / "t", stops=["<eos>"], extra=("<eos>",), template=template)
    target = _target(tok, calls=CALL)
    assert tok.decode(target) == CALL_TEXT + "<eos>" and target[-1] == tok.token_id("<eos>")


def test_the_model_configs_stop_tokens_count_too(tmp_path: Path) -> None:
    # The engine stops on the tokenizer's stops and the config's eos_token_id: a turn end listed only there is kept.
    tok = _tokenizer(tmp_path / "t", stops=["<eos>"], extra=("<eos>",))
    assert tok.decode(_target(tok, calls=CALL)) == CALL_TEXT + "<eos>"
    target = _target(tok, calls=CALL, stop_ids=(tok.token_id("<|im_end|>"),))
    assert tok.decode(target) == CALL_TEXT + "<|im_end|>" and target[-1] == tok.token_id("<|im_end|>")


# Qwen3's template in what matters here (written for the test): the last assistant turn opens with an empty think
# block, and the generation prompt closes one only when asked not to think, as the agent asks.
THINKING_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if message['role'] == 'assistant' and loop.last %}"
    "{{- '<|im_start|>assistant\\n<think>\\n\\n</think>\\n\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- else %}{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}{{- '<think>\\n\\n</think>\\n\\n' }}{%- endif %}"
    "{%- endif %}"
)


def test_a_thinking_template_trains_after_the_closed_think_block_the_agent_prompts_with(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from agent_sdk.agent.backends import LocalBackend
    from agent_sdk.agent.call_format import HERMES

    tok = _tokenizer(tmp_path / "t", stops=["<|im_end|>"], template=THINKING_TEMPLATE)
    renderer = PromptRenderer(tok, TOOLS)
    request = "turn on the kitchen lights"
    agent_prompt = LocalBackend(SimpleNamespace(tokenizer=tok, manifest=None), call_format=HERMES).prompt_text(  # type: ignore[arg-type]
        [{"role": "user", "content": request}], TOOLS, None)
    assert renderer.prompt_text(request) == agent_prompt and agent_prompt.endswith("<think>\n\n</think>\n\n")
    # the call's first token is the target's first (what auto reads and --decision-weight weighs), not "<think>"
    assert tok.decode(_target(tok, calls=CALL)) == CALL_TEXT + "<|im_end|>"
    reply = PromptRenderer(tok, TOOLS).render(request, reply="Sorry, I can't.")
    assert tok.decode(list(reply.ids[:reply.target_start])).endswith("</think>\n\n")
    assert tok.decode(list(reply.ids[reply.target_start:reply.target_end])) == "Sorry, I can't."


def test_the_server_prompts_a_thinking_template_as_the_agent_does(tmp_path: Path) -> None:
    from agent_sdk.server.config import ServerConfig
    from agent_sdk.server.validation import RequestValidator

    tok = _tokenizer(tmp_path / "t", stops=["<|im_end|>"], template=THINKING_TEMPLATE)
    body = {"messages": [{"role": "user", "content": "hello"}]}
    request = RequestValidator(tok, 4096, ServerConfig(), grammar=None).parse(json.dumps(body).encode())
    assert tok.decode(list(request.prompt_ids)).endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
