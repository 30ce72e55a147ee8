"""Token ids by their text: which tokens spell a prefix, which hold a quote or a digit.

Built once per tokenizer (a pass over the vocabulary) and shared by the copy
bias and the re-ranker.
"""

from __future__ import annotations

import weakref
from typing import Any, ClassVar

__all__ = ["TokenIndex"]


class TokenIndex:
    """Token ids by their text, for looking up the tokens that spell a prefix.

    Args:
        tokenizer: Anything with ``decode(ids)`` and ``vocab_size``.
    """

    _cache: ClassVar[weakref.WeakKeyDictionary[Any, TokenIndex]] = weakref.WeakKeyDictionary()

    def __init__(self, tokenizer: Any) -> None:
        self.by_text: dict[str, list[int]] = {}
        self.quote_ids: list[int] = []
        self.close_ids: list[int] = []  # tokens holding "}" (may close the arguments)
        self.digit_ids: list[int] = []  # tokens starting with a digit
        self.array_close_ids: list[int] = []  # tokens starting with "]"
        self.quote_array_close_ids: list[int] = []  # '"]' ...: end a string and its array
        self.quote_comma_ids: list[int] = []  # '",' ...: end a string, another item follows
        self.comma_ids: list[int] = []  # ',' and ' , ' (nothing else): after a value, another item follows
        self.string_comma_ids: list[int] = []  # '",' and '", ' (nothing else): end a string, another item follows
        self.number_end_ids: list[int] = []  # tokens that may end a JSON number: "," "}" "]" or white space first
        self.quote_punct_ids: list[int] = []  # '",', '"]', '"}', '":' ...: where a value starts, a string of punctuation
        for i in range(int(tokenizer.vocab_size)):
            s = tokenizer.decode([i])
            if not s or "\ufffd" in s:
                continue
            self.by_text.setdefault(s, []).append(i)
            if s.startswith('"'):
                self.quote_ids.append(i)
            if "}" in s:
                self.close_ids.append(i)
            if s[0].isdigit():
                self.digit_ids.append(i)
            if s.lstrip(" ").startswith("]"):
                self.array_close_ids.append(i)
            if s.startswith('"') and s[1:].lstrip(" ").startswith("]"):
                self.quote_array_close_ids.append(i)
            if s.startswith('"') and s[1:].lstrip(" ").startswith(","):
                self.quote_comma_ids.append(i)
            if s.strip(" ") == ",":
                self.comma_ids.append(i)
            if s.rstrip(" ") == '",':
                self.string_comma_ids.append(i)
            if s[0] in ",}] \n":
                self.number_end_ids.append(i)
            if s.startswith('"') and s[1:2] in (",", "]", "}", ":"):
                self.quote_punct_ids.append(i)
        self.text_of = {i: s for s, ids in self.by_text.items() for i in ids}
        self.max_len = max((len(s) for s in self.by_text), default=1)

    @classmethod
    def for_tokenizer(cls, tokenizer: Any) -> TokenIndex:
        """The index of ``tokenizer``, built once and cached."""
        idx = cls._cache.get(tokenizer)
        if idx is None:
            idx = cls(tokenizer)
            cls._cache[tokenizer] = idx
        return idx

    def prefixes(self, text: str) -> list[int]:
        """Ids of every token whose text is a non-empty prefix of ``text``."""
        out: list[int] = []
        for n in range(1, min(len(text), self.max_len) + 1):
            out.extend(self.by_text.get(text[:n], ()))
        return out
