"""Whether a request asks how things are, and whether a tool changes how things are.

"are the doors locked" and "is the trunk open" ask about a state. A tool that
locks the doors or opens the trunk does not answer them, and calling it
changes the very thing asked about. A small model, tuned on its tools, still
reads "is the trunk open" as "open the trunk" (the cabin's tuned bundle gave
it a higher ``auto`` score than most right calls, docs/tuning.md). So in
``auto`` such a question calls no tool that changes the thing it names
(:func:`agent_sdk.agent.call_stages.state_question`); a tool that reads
(``check_range``, ``lock_status``, ``is_door_locked``) may still answer it.

Polite requests are not questions: "is it possible to open the trunk", "are
you able to lock the doors", "is there any chance you could ...". Nor is a
question followed by a command ("are the windows open? close them"). An
indirect request phrased as a question about a state ("is it cold in here")
is read as a question.
"""

from __future__ import annotations

import re

from agent_sdk.agent.words import content_words, name_words, same_word

__all__ = ["CHANGE_VERBS", "READ_WORDS", "asks_state", "changes_state"]

# The first word of a tool name that changes what it names ("set_window", "open_trunk", "turn_on_lights").
CHANGE_VERBS = frozenset({
    "set", "turn", "switch", "open", "close", "shut", "lock", "unlock", "start", "stop", "cancel", "enable", "disable",
    "activate", "deactivate", "toggle", "arm", "disarm", "mute", "unmute", "play", "pause", "resume", "add", "remove",
    "delete", "create", "send", "call", "dial", "navigate", "tune", "update", "change", "adjust", "increase",
    "decrease", "raise", "lower", "dim", "brighten", "put", "make", "book", "order", "schedule", "move", "reset",
    "restart", "clear", "empty", "heat", "cool", "roll", "fold", "press", "push", "release",
})
# Words of a tool name that make it a reader whatever its first word ("lock_status", "call_history").
READ_WORDS = frozenset({"get", "check", "status", "state", "info", "details", "detail", "log", "logs", "history",
                        "list", "search", "lookup", "query", "fetch", "read", "show", "report", "is", "has"})
# Words a spoken request may open with before the question itself ("hey, is the trunk open").
_LEAD = frozenset({"hey", "hi", "hello", "ok", "okay", "um", "uh", "so", "well", "yeah", "oh", "and", "computer",
                   "assistant", "alright", "hmm", "quick", "question", "buddy", "there", "excuse", "me", "sorry"})
_OPENERS = frozenset({"is", "are", "was", "were", "did", "does", "has", "isn't", "aren't", "wasn't", "weren't",
                      "didn't", "doesn't", "hasn't", "isnt", "arent", "wasnt", "werent", "didnt", "doesnt", "hasnt"})
# Within the first words after an opener, what makes the question a polite request ("is it possible to").
_POLITE = frozenset({"possible", "able", "capable", "chance", "way", "ok", "okay", "fine", "alright", "mind",
                     "allowed", "safe", "sense", "willing", "going"})
_POLITE_SPAN = 5  # words after the opener looked at
# Lead-ins that ask about a state in other words ("do you know if the doors are locked").
_WONDER = re.compile(r"^(?:do you know|can you tell me|could you tell me|tell me|i wonder|i'm wondering|"
                     r"i was wondering|any idea|let me know|can you check|could you check|check) (?:if|whether)\b")
# Where a request's clauses part: a command after the question ("are the windows open? close them") ends it.
_CLAUSE = re.compile(r"[?.!,;]+|\b(?:then|and|but|if so|if not|otherwise|or else)\b")
_MAX_LEAD = 4  # lead words skipped at most


def _words(text: str) -> list[str]:
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    return re.findall(r"[a-z]+(?:'[a-z]+)*", text)


def _is_question(words: list[str]) -> bool:
    skipped = 0
    while words and words[0] in _LEAD and skipped < _MAX_LEAD:
        words, skipped = words[1:], skipped + 1
    if not words:
        return False
    if words[0] in _OPENERS:
        after = words[1:1 + _POLITE_SPAN]
        text = " ".join(after)
        return bool(after) and not _POLITE & set(after) and "all right" not in text and "too much" not in text
    return bool(_WONDER.match(" ".join(words)))


def asks_state(request: str) -> bool:
    """Whether ``request`` is a yes/no question about how something is ("are the doors locked").

    Args:
        request: The user's request.

    Returns:
        True when its first clause is a question opening with "is", "are", "was", "were", "did", "does", "has"
        (after greetings and fillers) or with "do you know if", "tell me whether" and the like, and every later
        clause is one too; False for polite requests ("is it possible to ...", "are you able to ..."), for a
        question followed by a command ("is the ac on? turn it off") and for everything else.
    """
    clauses = [_words(c) for c in _CLAUSE.split(request[:2000]) if c and c.strip()]
    clauses = [c for c in clauses if c and not set(c) <= _LEAD]  # "hey computer," is no clause of its own
    return bool(clauses) and all(_is_question(c) for c in clauses)


def changes_state(tool_name: str, request: str | None = None) -> bool:
    """Whether a tool changes the state a request asks about.

    Args:
        tool_name: The tool's name.
        request: The request; when given, the tool must also name something the request names (a word of its name
            besides the verb: "trunk" of ``open_trunk`` in "is the trunk open"), so a pure function that happens
            to be named with a verb (``add``, ``create_histogram``) is not taken for one.

    Returns:
        True when the name's first word is one of :data:`CHANGE_VERBS` and none of its words is one of
        :data:`READ_WORDS` ("lock_status" reads).
    """
    words = name_words(tool_name.rsplit(".", 1)[-1])
    if not words or words[0] not in CHANGE_VERBS or READ_WORDS & set(words[1:]):
        return False
    if request is None:
        return True
    said = content_words(request)
    return any(same_word(w, s) for w in words[1:] for s in said)
