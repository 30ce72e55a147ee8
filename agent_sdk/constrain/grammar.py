"""Grammars for schema-constrained decoding, on llguidance.

:class:`GrammarEngine` owns one ``llguidance.LLTokenizer`` (built from the
model's ``tokenizer.json`` string, never through the ``hf`` helper that
imports transformers) and compiles grammars, cached by their text:

* :meth:`GrammarEngine.json_grammar` — any JSON Schema.
* :meth:`GrammarEngine.lark_grammar` — a Lark grammar (JSON Schemas embed with
  ``%json {...}``); tool-call grammars are written this way.

:class:`Constraint` is the per-request matcher. It implements the engine's
constraint protocol: mask logits, accept a token, report forced tokens
(jump-forward: a span the grammar fully determines is fed in one prefill
step instead of token by token).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from agent_sdk.errors import AgentSDKError, UserError

__all__ = ["GrammarEngine", "Constraint", "GrammarError"]


class GrammarError(UserError):
    """A schema or grammar that llguidance cannot compile."""


class GrammarEngine:
    """Compiles and caches grammars for one vocabulary.

    Args:
        tokenizer_json: The model's ``tokenizer.json`` as a string.
        vocab_size: Rows of the model's logits (may exceed the tokenizer's).
        eos_token_ids: Tokens that end a response.
        cache_size: Grammars kept compiled.
        tokenizer: The runtime's loaded tokenizer: when it knows its tokens'
            bytes, llguidance is built from it instead of ``tokenizer_json``.
    """

    def __init__(self, tokenizer_json: str, *, vocab_size: int, eos_token_ids: list[int], cache_size: int = 64,
                 tokenizer: Any = None) -> None:
        import llguidance

        self._ll = llguidance
        try:
            source = _loaded_tokenizer_source(llguidance, tokenizer, eos_token_ids) if tokenizer is not None else None
            self.tokenizer = llguidance.LLTokenizer(
                source or tokenizer_json, n_vocab=vocab_size, eos_token=list(eos_token_ids) or None
            )
        except Exception as exc:
            raise AgentSDKError(f"llguidance cannot use this tokenizer: {exc}") from exc
        self.vocab_size = vocab_size
        self._cache: OrderedDict[str, str] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    @classmethod
    def for_engine(cls, engine: Any) -> "GrammarEngine":
        """The (cached) grammar engine of a runtime :class:`Engine`."""
        cached = getattr(engine, "_grammar_engine", None)
        if cached is not None:
            return cached
        path = engine.path / "tokenizer.json"
        if not path.exists():
            raise AgentSDKError(
                f"{engine.path}: constrained decoding needs tokenizer.json (SentencePiece-only bundles are not supported yet)"
            )
        ge = cls(path.read_text(), vocab_size=engine.vocab_size, eos_token_ids=sorted(engine.eos_token_ids),
                 tokenizer=getattr(engine, "tokenizer", None))
        engine._grammar_engine = ge
        return ge

    def _compile(self, key: str, build: Any) -> str:
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        grammar = build()
        ok, warnings = self._validate(grammar)
        if not ok:
            raise GrammarError(f"grammar does not compile: {warnings}")
        with self._lock:
            self._cache[key] = grammar
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return grammar

    def _validate(self, grammar: str) -> tuple[bool, str]:
        try:
            err = self._ll.LLMatcher.validate_grammar(grammar, self.tokenizer)
        except Exception as exc:  # malformed grammar text
            return False, str(exc)
        return (not err), str(err)

    def json_grammar(self, schema: dict[str, Any] | bool, *, whitespace_flexible: bool = False) -> str:
        """A grammar accepting exactly the JSON documents valid under ``schema``.

        Args:
            schema: A JSON Schema.
            whitespace_flexible: Allow arbitrary whitespace (default: compact
                JSON with a space after ``:`` and ``,``, which small models
                tokenise best).
        """
        # Key order matters: llguidance emits properties in the schema's order.
        key = "json:" + json.dumps(schema) + str(whitespace_flexible)
        defaults: dict[str, Any] = {"whitespace_flexible": whitespace_flexible}
        if not whitespace_flexible:
            defaults.update(item_separator=", ", key_separator=": ")

        def build() -> str:
            try:
                if isinstance(schema, bool):  # true / false schemas take no options
                    return str(self._ll.LLMatcher.grammar_from_json_schema(schema))
                return str(self._ll.LLMatcher.grammar_from_json_schema(schema, defaults=defaults))
            except Exception as exc:
                raise GrammarError(f"JSON schema not supported by the grammar engine: {exc}") from exc

        return self._compile(key, build)

    def lark_grammar(self, lark: str) -> str:
        """Compiles (validates and caches) a Lark grammar."""
        return self._compile("lark:" + lark, lambda: str(self._ll.LLMatcher.grammar_from_lark(lark)))

    def constraint(self, grammar: str) -> "Constraint":
        """A fresh matcher for one request."""
        return Constraint(self, grammar)


def _loaded_tokenizer_source(ll: Any, tokenizer: Any, eos_token_ids: list[int]) -> Any:
    """An ``llguidance.TokenizerWrapper`` over the runtime's loaded tokenizer, or None.

    Saves llguidance parsing ``tokenizer.json`` again and decoding every token:
    Gemma 3's 262k tokens, 3.9-4.4 s of CPU that way, 2.4-2.8 s this way, with
    the same token bytes, special tokens and masks (docs/models.md,
    "Tokenizers"). Only where the tokenizer knows its tokens' bytes
    (SentencePiece style); special tokens are marked with llguidance's 0xFF
    prefix.
    """
    token_bytes = tokenizer.token_bytes() if hasattr(tokenizer, "token_bytes") else None
    if token_bytes is None:
        return None
    special = tokenizer.special_token_ids(tag_like=True)  # as llguidance reads tokenizer.json
    for i in special:
        token_bytes[i] = b"\xff" + token_bytes[i]

    class Source:
        eos_token_id = eos_token_ids[0] if eos_token_ids else None
        bos_token_id = tokenizer.bos_token_id
        tokens = token_bytes
        special_token_ids = special

        def __call__(self, text: str) -> list[int]:
            if not isinstance(text, str):
                raise TypeError("text, not bytes")  # tells TokenizerWrapper to pass str
            return tokenizer.encode(text, add_bos=False)

    return ll.TokenizerWrapper(Source())


class Constraint:
    """A per-request matcher implementing the engine's constraint protocol.

    Args:
        engine: The grammar engine.
        grammar: A compiled grammar string.
    """

    def __init__(self, engine: GrammarEngine, grammar: str) -> None:
        ll = engine._ll
        self._np = __import__("llguidance.numpy", fromlist=["numpy"])
        self.engine = engine
        self.matcher = ll.LLMatcher(engine.tokenizer, grammar, log_level=0)  # errors are reported, not logged
        if self.matcher.is_error():
            raise GrammarError(self.matcher.get_error())
        self._bitmask = self._np.allocate_token_bitmask(1, engine.tokenizer.vocab_size)
        self.forced_count = 0
        self.masked_steps = 0
        self.tokens: list[int] = []
        self.forced_flags: list[bool] = []  # per accepted token: fed by jump-forward?

    def mask_logits(self, logits: np.ndarray) -> np.ndarray:
        """Sets the logits of tokens the grammar forbids to -inf (in place)."""
        bits = self._next_bits(logits.shape[-1])
        n = bits.size
        logits[:n][~bits] = -np.inf
        if logits.shape[-1] > n:
            logits[n:] = -np.inf  # rows past the tokenizer's vocabulary (padding)
        self.masked_steps += 1
        return logits

    def allowed(self) -> np.ndarray:
        """Boolean mask of the tokens allowed next."""
        return self._next_bits(self.engine.vocab_size)

    def _next_bits(self, n: int) -> np.ndarray:
        """The next-token bitmask unpacked to booleans (at most ``n`` of them), vectorised."""
        self._np.fill_next_token_bitmask(self.matcher, self._bitmask, 0)
        self._check()
        n = min(n, self._bitmask.shape[-1] * 32)
        return np.unpackbits(self._bitmask[0].view(np.uint8), bitorder="little")[:n].astype(bool)

    def accept(self, token_id: int) -> None:
        """Advances the matcher by a sampled token."""
        if not self.matcher.consume_token(int(token_id)):
            self._check()
            raise AgentSDKError(f"token {token_id} was not allowed by the grammar")
        self.tokens.append(int(token_id))
        self.forced_flags.append(False)

    def forced_tokens(self) -> list[int]:
        """Tokens the grammar determines from here (jump-forward), maybe none."""
        if self.matcher.is_stopped():
            return []
        return [int(t) for t in self.matcher.compute_ff_tokens()]

    def note_forced(self, n: int) -> None:
        """Records that the last ``n`` accepted tokens were fed without sampling."""
        self.forced_count += n
        for i in range(1, n + 1):
            self.forced_flags[-i] = True

    def is_stopped(self) -> bool:
        """Whether the grammar has ended (only EOS could follow)."""
        return bool(self.matcher.is_stopped())

    def is_accepting(self) -> bool:
        """Whether the text so far is a complete match."""
        return bool(self.matcher.is_accepting())

    def _check(self) -> None:
        if self.matcher.is_error():
            raise AgentSDKError(f"grammar matcher error: {self.matcher.get_error()}")
