"""Tokenizers for bundles: Hugging Face ``tokenizer.json`` or SentencePiece.

Also renders chat templates (Jinja2, sandboxed) and decodes incrementally
for streaming: a token that ends inside a multi-byte UTF-8 character prints
nothing until the character is complete.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from agent_sdk.errors import BundleError

__all__ = ["Tokenizer", "StreamDecoder", "FALLBACK_CHAT_TEMPLATE"]

# SentencePiece's space, and its byte-fallback tokens.
_SPACE_SYMBOL = "\u2581"
_BYTE_TOKEN = re.compile(r"<0x([0-9A-F]{2})>")

# For base models that ship no template (MobileLLM): ChatML, which small
# instruction-tuned models of this size commonly use.
FALLBACK_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


class Tokenizer:
    """Encodes and decodes text for one model.

    Args:
        folder: A bundle folder holding ``tokenizer.json`` or ``tokenizer.model``
            and ``tokenizer_meta.json``.
    """

    def __init__(self, folder: Path) -> None:
        folder = Path(folder)
        meta_path = folder / "tokenizer_meta.json"
        self.meta: dict[str, Any] = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        self._hf: Any = None
        self._sp: Any = None
        if (folder / "tokenizer.json").exists():
            from tokenizers import Tokenizer as HFTokenizer

            try:
                self._hf = HFTokenizer.from_file(str(folder / "tokenizer.json"))
            except Exception as exc:
                raise BundleError(f"{folder}/tokenizer.json: cannot load tokenizer: {exc}") from exc
            self.vocab_size = self._hf.get_vocab_size(with_added_tokens=True)
        elif (folder / "tokenizer.model").exists():
            import sentencepiece as spm

            self._sp = spm.SentencePieceProcessor()
            try:
                self._sp.Load(str(folder / "tokenizer.model"))
            except Exception as exc:
                raise BundleError(f"{folder}/tokenizer.model: cannot load tokenizer: {exc}") from exc
            self.vocab_size = self._sp.GetPieceSize()
        else:
            raise BundleError(f"{folder}: no tokenizer.json or tokenizer.model")
        self.bos_token_id: int | None = self.meta.get("bos_token_id")
        self.eos_token_ids: list[int] = list(self.meta.get("eos_token_ids") or [])
        self.add_bos: bool = bool(self.meta.get("add_bos", False))
        self.chat_template: str | None = self.meta.get("chat_template")

    def encode(self, text: str, *, add_bos: bool | None = None) -> list[int]:
        """Token ids of ``text``; special tokens written in it are recognised.

        Args:
            text: The text.
            add_bos: Prepend BOS; defaults to the model's own setting.
        """
        bos = self.add_bos if add_bos is None else add_bos
        if self._hf is not None:
            ids = list(self._hf.encode(text, add_special_tokens=False).ids)
        else:
            ids = list(self._sp.EncodeAsIds(text))
        if bos and self.bos_token_id is not None and (not ids or ids[0] != self.bos_token_id):
            ids.insert(0, int(self.bos_token_id))
        return ids

    def decode(self, ids: list[int], *, skip_special: bool = False) -> str:
        """Text of ``ids``."""
        if self._hf is not None:
            return str(self._hf.decode(list(ids), skip_special_tokens=skip_special))
        return str(self._sp.DecodeIds([int(i) for i in ids]))

    def token_to_str(self, token_id: int) -> str | None:
        """The vocabulary entry of a token id (raw piece), or None."""
        if self._hf is not None:
            return self._hf.id_to_token(int(token_id))
        return str(self._sp.IdToPiece(int(token_id)))

    def token_id(self, piece: str) -> int | None:
        """The id of a vocabulary entry, or None."""
        if self._hf is not None:
            return self._hf.token_to_id(piece)
        i = self._sp.PieceToId(piece)
        return int(i) if i != self._sp.unk_id() or piece == self._sp.IdToPiece(self._sp.unk_id()) else None

    def token_bytes(self) -> list[bytes] | None:
        """Every token's bytes as they appear in generated text, for a grammar engine's token trie.

        Known for SentencePiece-style ``tokenizer.json`` files (a byte-fallback
        decoder: ``▁`` is a space, ``<0xXX>`` that byte, any other token its
        UTF-8 text; special tokens their text). None otherwise: the grammar
        engine then reads ``tokenizer.json`` itself, which for Gemma 3's 262k
        tokens costs about twice as much (docs/models.md, "Tokenizers").
        """
        decoder = self._hf.decoder if self._hf is not None else None
        if decoder is None or '"ByteFallback"' not in decoder.__getstate__().decode():
            return None
        out = [b""] * self.vocab_size
        for text, i in self._hf.get_vocab(with_added_tokens=True).items():
            byte = _BYTE_TOKEN.fullmatch(text)
            out[i] = bytes([int(byte.group(1), 16)]) if byte else text.replace(_SPACE_SYMBOL, " ").encode()
        return out

    def special_token_ids(self, *, tag_like: bool = False) -> list[int]:
        """Ids of the special (control) tokens, which never stand for text.

        Args:
            tag_like: Also the user-defined tokens written like a tag
                (Gemma's ``<table>``, ``<start_of_image>``), which llguidance and
                llama.cpp treat as special too.
        """

        def tag(text: str) -> bool:
            return tag_like and text.startswith("<") and text.endswith(">")

        if self._hf is not None:
            return sorted(i for i, t in self._hf.get_added_tokens_decoder().items() if t.special or tag(t.content))
        return [i for i in range(self.vocab_size) if self._sp.IsControl(i) or self._sp.IsUnknown(i)
                or (self._sp.IsUserDefined(i) and tag(self._sp.IdToPiece(i)))]

    def apply_chat_template(self, messages: list[dict[str, Any]], *, add_generation_prompt: bool = True, **extra: Any) -> str:
        """Renders messages with the model's chat template (or ChatML).

        Args:
            messages: ``[{"role": ..., "content": ...}, ...]``.
            add_generation_prompt: End with the assistant turn's header.
            **extra: More template variables (e.g. ``tools``).
        """
        template = self._compiled_template()
        return template.render(
            messages=messages,
            add_generation_prompt=add_generation_prompt,
            bos_token=self.meta.get("bos_token") or "",
            eos_token=self.meta.get("eos_token") or "",
            **extra,
        )


    def _compiled_template(self) -> Any:
        """The chat template compiled once (a sandboxed Jinja environment; compiling costs ms per turn)."""
        compiled = getattr(self, "_template_cache", None)
        source = self.chat_template or FALLBACK_CHAT_TEMPLATE
        if compiled is not None and compiled[0] == source:
            return compiled[1]
        import jinja2
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, undefined=jinja2.Undefined)

        def raise_exception(message: str) -> None:
            raise jinja2.TemplateError(message)

        env.globals["raise_exception"] = raise_exception
        template = env.from_string(source)
        self._template_cache = (source, template)
        return template


class StreamDecoder:
    """Turns a growing list of token ids into text deltas, safely for UTF-8.

    Args:
        tokenizer: The tokenizer.
        prefix_ids: Ids already shown (context for correct spacing).
    """

    def __init__(self, tokenizer: Tokenizer, prefix_ids: list[int] | None = None) -> None:
        self._tok = tokenizer
        self._ids: list[int] = list(prefix_ids or [])[-4:]
        self._start = len(self._ids)
        # A prompt may end inside a multi-byte character: its completion belongs to the output.
        self._emitted = (tokenizer.decode(self._ids) if self._ids else "").rstrip("\ufffd")

    def push(self, token_id: int) -> str:
        """Adds a token; returns the new printable text (maybe empty)."""
        self._ids.append(int(token_id))
        text = self._tok.decode(self._ids)
        if text.endswith("\ufffd"):
            return ""  # an incomplete multi-byte character: wait for the rest
        delta = text[len(self._emitted):] if text.startswith(self._emitted) else text[len(self._emitted):]
        self._emitted = text
        return delta
