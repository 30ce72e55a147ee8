"""Where decoding is inside a call's arguments: a character-level JSON cursor.

The copy bias and the re-ranker follow the arguments object as it is
written, one character at a time, to know whether a string value, a key or
a number is being written, which keys are done and what the open arrays
hold. The call format says where the arguments start
(:meth:`agent_sdk.agent.call_format.CallFormat.arguments_start`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agent_sdk.agent.call_format import HERMES, CallFormat

__all__ = ["ArgumentCursor", "scan_arguments"]


@dataclass
class ArgumentCursor:
    """Where decoding is inside a call's ``arguments`` JSON.

    Attributes:
        active: Inside the arguments object (it is open and not yet closed).
        depth: Open objects and arrays, the arguments object included.
        in_string: Inside a string.
        is_key: The string (or the next one) is an object key.
        value: The characters of the current string value or number so far.
        in_number: Inside a number.
        stack: Open containers, ``"o"`` or ``"a"``.
        keys: The keys written so far in the arguments object itself.
        items: For each open array (innermost last), the text of its items
            so far; the last entry is the item being written.
    """

    active: bool = False
    depth: int = 0
    in_string: bool = False
    is_key: bool = False
    value: str = ""
    in_number: bool = False
    stack: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    _escape: bool = False
    items: list[list[str]] = field(default_factory=list)

    def feed(self, text: str) -> None:
        """Advances over ``text`` (JSON as the call grammar writes it)."""
        for ch in text:
            if not self.active:
                return
            if self.items:
                for outer in self.items[:-1]:
                    outer[-1] += ch
                own = not self.in_string and self.stack and self.stack[-1] == "a" and ch in ",]"
                if not own:
                    self.items[-1][-1] += ch
                elif ch == ",":
                    self.items[-1].append("")
            if self.in_string:
                if self._escape:
                    self._escape = False
                    self.value += ch
                elif ch == "\\":
                    self._escape = True
                elif ch == '"':
                    self.in_string = False
                    if self.is_key and len(self.stack) == 1:
                        self.keys.append(self.value)
                else:
                    self.value += ch
                continue
            if self.in_number:
                if ch.isdigit() or ch in ".eE+-":
                    self.value += ch
                    continue
                self.in_number = False
            if ch == '"':
                self.in_string = True
                self.value = ""
            elif ch in "{[":
                self.stack.append("o" if ch == "{" else "a")
                self.is_key = ch == "{"
                if ch == "[":
                    self.items.append([""])
            elif ch in "}]":
                if self.stack and self.stack.pop() == "a" and self.items:
                    self.items.pop()
                if not self.stack:
                    self.active = False
            elif ch == ":":
                self.is_key = False
            elif ch == ",":
                self.is_key = bool(self.stack) and self.stack[-1] == "o"
            elif ch.isdigit() or ch == "-":
                self.in_number = True
                self.value = ch
        self.depth = len(self.stack)

    def copy(self) -> ArgumentCursor:
        """An independent copy (to look ahead over a token's text)."""
        return ArgumentCursor(
            self.active, self.depth, self.in_string, self.is_key, self.value, self.in_number, list(self.stack),
            list(self.keys), self._escape, [list(x) for x in self.items],
        )

    def item_repeats(self, *, closing: bool = False) -> bool:
        """Whether the innermost array's item just written repeats an earlier item of it.

        Args:
            closing: The item is a string still open: judge it as if its
                closing quote came next.
        """
        if not self.items or self.in_number or not self.stack or self.stack[-1] != "a":
            return False
        if self.in_string != closing:
            return False
        *before, last = (x.strip() for x in self.items[-1])
        if closing:
            last += '"'
        return bool(last) and last in before


def scan_arguments(text: str, fmt: CallFormat = HERMES) -> ArgumentCursor:
    """The cursor at the end of ``text``, inside the last call's arguments.

    Args:
        text: The call text generated so far.
        fmt: The call format ``text`` is written in.
    """
    cur = ArgumentCursor()
    k = fmt.last_arguments_start(text)
    if k < 0:
        return cur
    rest = text[k:]
    if not rest:
        return cur
    cur.active = True
    cur.feed(rest)
    return cur
