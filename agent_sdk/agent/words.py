"""Words of requests and of tool and parameter names, compared loosely.

One place for what the relevance score and the copy bias both need: splitting
identifiers (``snake_case``, ``camelCase``), the words that say nothing about
a topic, and matching by stem ("detailed" / "details").
"""

from __future__ import annotations

import re

__all__ = [
    "GENERIC_PARAMETER_WORDS", "MIN_WORD_LEN", "SHORT_FORMS", "STOP_WORDS", "content_words", "name_words", "same_word",
    "split_camel_case", "stem",
]

# Shorter words people say for a word or phrase of a choice ("the veg bed", "the lounge lights"); the generator
# teaches them (``agent_sdk.tune.phrasing.VALUE_ALTERNATIVES``) and copy coverage credits them.
SHORT_FORMS: dict[str, tuple[str, ...]] = {"vegetable": ("veg", "veggie"), "living room": ("lounge",),
                                           "television": ("tv",)}

# Shorter words ("of", "to", "in") carry no topic.
MIN_WORD_LEN = 3

# Function words, and verbs and nouns that name no topic (every tool "gets"
# or "calculates" something); they say nothing about a tool's subject.
STOP_WORDS = frozenset(
    re.findall(r"\S+", """the and for with from into onto that this these those what which when where who whom whose how why
    are was were been being have has had does did can could should would will shall may might must
    any all each every some such other than then there their them they its it's not nor but per via
    get set find calculate compute given specific particular based using use used return returns
    retrieve provide fetch information info data value values number list type name names
    function tool default optional required parameter parameters""")
)


# Words of parameter names too generic to say that a request mentions the parameter
# (``include_details`` is mentioned by "details", not by "include"). Narrower than
# STOP_WORDS on purpose: "number" or "info" in a parameter's name does pick it out
# (chosen with the copy bias's ``keep`` on BFCL's tuning questions, docs/bfcl_results.md).
GENERIC_PARAMETER_WORDS = frozenset(
    {"include", "type", "name", "value", "values", "the", "for", "use", "get", "set", "list", "data"}
)


def split_camel_case(text: str) -> str:
    """``text`` with a space before each inner capital ("getWeather" → "get Weather")."""
    return re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", text)


def name_words(name: str) -> list[str]:
    """The words of an identifier (snake_case or camelCase), lower case, at least three letters."""
    return [w.lower() for w in re.split(r"[^A-Za-z0-9]+", split_camel_case(name)) if len(w) >= MIN_WORD_LEN]


def content_words(text: str) -> list[str]:
    """The topical words of ``text`` (identifiers split at ``_``, ``.`` and camelCase), lower case.

    Words shorter than three letters and function words are dropped; order
    is kept, repeats are not.
    """
    words = (w.lower() for w in re.findall(r"[A-Za-z]+", split_camel_case(text)))
    return list(dict.fromkeys(w for w in words if len(w) >= MIN_WORD_LEN and w not in STOP_WORDS))


def stem(word: str) -> str:
    """A crude stem: long words lose up to three letters, keeping at least four."""
    return word[: max(4, len(word) - 3)] if len(word) > 5 else word


def same_word(a: str, b: str) -> bool:
    """Whether two lower-case words share a stem ("details" / "detailed", "toll" / "tolls")."""
    sa, sb = stem(a), stem(b)
    if sa == sb:
        return True
    return len(sa) >= 4 and len(sb) >= 4 and (sa.startswith(sb) or sb.startswith(sa))
