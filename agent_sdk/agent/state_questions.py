"""Whether a request asks how things are, and whether a tool changes how things are.

"are the doors locked" and "is the trunk open" ask about a state. A tool that
locks the doors or opens the trunk does not answer them, and calling it
changes the very thing asked about. A small model, tuned on its tools, still
reads "is the trunk open" as "open the trunk" (the cabin's tuned bundle gave
it a higher ``auto`` score than most right calls, docs/tuning.md). So in
``auto`` a yes/no question about a state never calls a tool whose name says
it changes state (:func:`agent_sdk.agent.call_stages.state_question`); a tool
that reads (``check_range``, ``get_status``, ``is_door_locked``) may still
answer it.

Requests phrased as questions are left alone: "is it possible to open the
trunk", "are you able to lock the doors", "can you open the trunk".
"""

from __future__ import annotations

import re

from agent_sdk.agent.words import name_words

__all__ = ["CHANGE_VERBS", "asks_state", "changes_state"]

# The first word of a tool name that changes what it names ("set_window", "open_trunk", "turn_on_lights").
CHANGE_VERBS = frozenset({
    "set", "turn", "switch", "open", "close", "shut", "lock", "unlock", "start", "stop", "cancel", "enable", "disable",
    "activate", "deactivate", "toggle", "arm", "disarm", "mute", "unmute", "play", "pause", "resume", "add", "remove",
    "delete", "create", "send", "call", "dial", "navigate", "tune", "update", "change", "adjust", "increase",
    "decrease", "raise", "lower", "dim", "brighten", "put", "make", "book", "order", "schedule", "move", "reset",
    "restart", "clear", "empty", "heat", "cool", "roll", "fold", "press", "push", "release",
})
# Words a spoken request may open with before the question itself ("hey, is the trunk open").
_LEAD = frozenset({"hey", "hi", "hello", "ok", "okay", "um", "uh", "so", "well", "yeah", "oh", "and", "computer",
                   "assistant", "alright", "hmm", "quick", "question", "buddy", "there", "excuse", "me", "sorry"})
_OPENERS = frozenset({"is", "are", "was", "were", "did", "does", "isn't", "aren't", "didn't", "doesn't"})
# After an opener, what makes the question a polite request instead ("is it possible to", "are you able to").
_REQUEST_AFTER = re.compile(r"^(?:you|it possible|there (?:a|any) way|it ok|it okay|it alright)\b")
# Lead-ins that ask about a state in other words ("do you know if the doors are locked").
_WONDER = re.compile(r"^(?:do you know|can you tell me|could you tell me|tell me|i wonder|i'm wondering)"
                     r" (?:if|whether)\b")
_MAX_LEAD = 4  # lead words skipped at most


def asks_state(request: str) -> bool:
    """Whether ``request`` is a yes/no question about how something is ("are the doors locked").

    Args:
        request: The user's request.

    Returns:
        True for a question opening with "is", "are", "was", "were", "did", "does" (after greetings and fillers)
        or with "do you know if", "tell me whether" and the like; False for polite requests ("is it possible to
        ...", "are you able to ...") and for everything else.
    """
    words = re.findall(r"[a-z']+", request.lower())[:40]
    skipped = 0
    while words and words[0] in _LEAD and skipped < _MAX_LEAD:
        words, skipped = words[1:], skipped + 1
    if not words:
        return False
    rest = " ".join(words[1:])
    if words[0] in _OPENERS:
        return bool(rest) and not _REQUEST_AFTER.match(rest)
    return bool(_WONDER.match(" ".join(words)))


def changes_state(tool_name: str) -> bool:
    """Whether a tool's name says it changes state: its first word is one of :data:`CHANGE_VERBS`."""
    words = name_words(tool_name.rsplit(".", 1)[-1])
    return bool(words) and words[0] in CHANGE_VERBS
