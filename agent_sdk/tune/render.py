"""Training examples as token ids, rendered exactly as the agent prompts at run time.

The prompt is what :class:`~agent_sdk.agent.backends.LocalBackend` builds for
a user request: the system message (instructions, the tools, the call
format's instructions) and the user turn through the model's chat template,
ending with the assistant header. The target is the assistant message as the
conversation renders it afterwards (calls in the model's native call format,
then the end of the turn). Every example shares the system message, so it is
tokenized once as a prefix; the rest is the example's suffix, and only the
assistant's tokens carry loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agent_sdk.agent.call_format import HERMES, CallFormat
from agent_sdk.agent.conversation import assistant_message, render_messages
from agent_sdk.agent.prompting import system_message
from agent_sdk.errors import UserError
from agent_sdk.runtime.tokenizer import Tokenizer

__all__ = ["PromptRenderer", "RenderedExample"]


@dataclass(frozen=True)
class RenderedExample:
    """One example after the shared prefix.

    Attributes:
        ids: Token ids after the prefix (the user turn, the assistant header, the target).
        target_start: Index in ``ids`` of the first target (loss-carrying) token.
        target_end: Index in ``ids`` just past the last target token.
        weight: The example's weight in the loss.
    """

    ids: tuple[int, ...]
    target_start: int
    target_end: int
    weight: float = 1.0


class PromptRenderer:
    """Renders requests and their targets for one tokenizer, tool set and prompt.

    Args:
        tokenizer: The model's tokenizer (chat template included).
        tools: ``{"name", "description", "parameters"}`` dicts, as the agent offers them.
        system: The instructions before the tools (None: the default).
        call_format: How the model writes calls.
        tool_listing: How the system message lists the tools
            (:data:`~agent_sdk.agent.prompting.TOOL_LISTINGS`).
        stop_ids: Stop tokens besides the tokenizer's (the model config's
            ``eos_token_id``: the engine stops on both).
    """

    def __init__(
        self,
        tokenizer: Tokenizer,
        tools: Sequence[dict[str, Any]],
        *,
        system: str | None = None,
        call_format: CallFormat = HERMES,
        tool_listing: str = "full",
        stop_ids: Sequence[int] = (),
    ) -> None:
        self.tokenizer = tokenizer
        self.tools = list(tools)
        self.call_format = call_format
        self._system = system_message(self.tools, system, call_format=call_format, tool_listing=tool_listing)
        prefix_text = tokenizer.apply_chat_template([self._system], add_generation_prompt=False, enable_thinking=False)
        self.prefix_ids: tuple[int, ...] = tuple(tokenizer.encode(prefix_text))
        self._prefix_text = prefix_text
        # The engine's stop tokens and their text, in order.
        self._stops = {i: tokenizer.decode([i]) for i in [*tokenizer.eos_token_ids, *stop_ids]}
        self._stop_id = _turn_stop_id(self._stops)

    def prompt_text(self, request: str) -> str:
        """The request as the agent prompts it (ends with the assistant header)."""
        messages = [self._system, *render_messages([{"role": "user", "content": request}], self.call_format)]
        # as the agent prompts (LocalBackend.prompt_text): Qwen3's template then closes an empty think block
        return str(self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, enable_thinking=False))

    def prompt_ids(self, request: str) -> list[int]:
        """Token ids of :meth:`prompt_text` (prefix included)."""
        return self.tokenizer.encode(self.prompt_text(request))

    def render(self, request: str, calls: Sequence[dict[str, Any]] = (), *, reply: str = "",
               weight: float = 1.0) -> RenderedExample:
        """One example: ``calls`` as the target, or ``reply`` (a text answer) when there are none.

        Args:
            request: The user's request.
            calls: ``{"name", "arguments"}`` dicts, in order.
            reply: The answer's text when no call is made (its start; the
                turn is not closed, so the loss says only how to begin).
            weight: The example's weight.

        Raises:
            UserError: The tokenization of the prefix is not a prefix of the
                whole (a tokenizer that merges across the system message's end).
        """
        prompt = self.prompt_text(request)
        end_id: list[int] = []
        if calls:
            message = assistant_message("", [(f"call_{i}", c["name"], c["arguments"]) for i, c in enumerate(calls)])
            rendered = render_messages([{"role": "user", "content": request}, message], self.call_format)
            full = str(self.tokenizer.apply_chat_template([self._system, *rendered], add_generation_prompt=False,
                                                          enable_thinking=False))
            if not full.startswith(prompt):
                raise UserError("the chat template renders an assistant turn that does not extend the prompt")
            target = full[len(prompt):]
            # The target ends with the end-of-turn token; what the template adds after it is not the model's.
            eot, stop = self._end_of_turn(target)
            if eot is None:
                target, stop = target.rstrip(), self._stop_id
            else:
                target = target[:eot]
            content = str(rendered[-1].get("content") or "")
            k = target.find(content) if content else -1
            if k >= 0 and stop is not None and target[k + len(content):] != self._stops[stop]:
                # The template closes the turn with text that is no stop token here (the ChatML fallback's
                # "<|im_end|>" in Gemma's vocabulary), alone or before the stop: a run ends only on a stop token,
                # and after a call the call grammar offers only the next call or a stop, so the calls end on one.
                target = target[:k + len(content)]
                end_id = [stop]
        else:
            target = reply
        ids = self.tokenizer.encode(prompt + target) + end_id
        prompt_ids = self.tokenizer.encode(prompt)
        n = len(self.prefix_ids)
        if tuple(ids[:n]) != self.prefix_ids or ids[:len(prompt_ids)] != prompt_ids:
            raise UserError("the tokenizer merges tokens across the prompt's boundaries; cannot split the prefix")
        return RenderedExample(tuple(ids[n:]), len(prompt_ids) - n, len(ids) - n, weight)

    def _end_of_turn(self, target: str) -> tuple[int | None, int | None]:
        """Where the template's turn ends in ``target`` (past its stop) and that stop token, None where there is none.

        The tokenizer's ``eos_token`` written as text also ends the turn (its token then None).
        """
        for token, piece in self._stops.items():
            k = target.find(piece) if piece else -1
            if k >= 0:
                return k + len(piece), token
        eos = self.tokenizer.meta.get("eos_token")
        if eos and eos in target:
            return target.index(eos) + len(eos), None
        return None, None

# Stop tokens that close a turn (not a document), preferred as the end of a target the template cannot close.
_TURN_STOP_TEXTS = ("<end_of_turn>", "<|im_end|>", "<|eot_id|>", "<|end|>")


def _turn_stop_id(stops: dict[int, str]) -> int | None:
    """The stop a call target ends with when the template's own end is plain text: a turn's end, else the first."""
    for i, piece in stops.items():
        if piece in _TURN_STOP_TEXTS:
            return i
    return next(iter(stops), None)
