"""Finding tool calls in the output of small on-device models.

Small models write tool calls in one of three shapes, and :func:`parse_calls`
reads all of them out of one text:

``hermes``
    ``<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>``
    as trained into Hermes, Qwen and SmolLM2. A text may hold several blocks
    (parallel calls) and free text around them; a block may hold a JSON list or
    several objects, ``"arguments"`` may be a JSON-encoded string and
    ``"parameters"`` is accepted in its place.
``json``
    Bare JSON: ``{"name": ..., "arguments": {...}}``, a list of those, or the
    OpenAI shape ``{"function": {"name": ..., "arguments": "..."}}``, also inside
    a fenced code block.
``python``
    Python call syntax, the format of the MobileLLM paper's API-calling task and
    of BFCL: ``set_alarm(time="7:30 am")``, ``[f(a=1), g(b=2)]``, dotted names,
    and the paper's wrapper ``{API: "alarm(time=\\"7:30 am\\")"}``.

Nothing here evaluates model output. Python syntax goes through :func:`ast.parse`
and only literal nodes (strings, numbers, True/False/None, lists, tuples, dicts,
unary minus on a number) become values; anything else is reported as a
:class:`ParseError`. Positional arguments of a Python-syntax call are kept apart
in :attr:`ParsedCall.positional`, in order, for the caller to map onto parameter
names with the tool's signature.

:class:`StreamingCallParser` follows Hermes blocks while tokens arrive, so a
front end can show text at once and a call as soon as its block closes.
"""

from __future__ import annotations

import ast
import io
import json
import math
import re
import tokenize
import warnings
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from agent_sdk.agent.call_format import HERMES, CallFormat
from agent_sdk.errors import UserError

__all__ = [
    "FORMATS",
    "CallError",
    "CallParsed",
    "CallStarted",
    "ParseError",
    "ParseResult",
    "ParsedCall",
    "StreamEvent",
    "StreamingCallParser",
    "TextDelta",
    "parse_calls",
]

FORMATS: tuple[str, ...] = ("hermes", "json", "python")
"""Every format name :func:`parse_calls` understands, in the default order."""


@dataclass(frozen=True)
class ParsedCall:
    """One tool call found in model output.

    Attributes:
        name: The tool name as written, dotted names kept whole (``math.factorial``).
        arguments: Keyword arguments by name; JSON formats put every argument here.
        raw: The source text the call was read from: the whole ``<tool_call>``
            block, JSON value, fenced block, wrapper or Python expression. When one
            span holds several calls (a list), they share it.
        positional: Positional arguments of a Python-syntax call, in order (for
            ``f(1, x=2)``: ``(1,)``). Always empty for JSON formats.
    """

    name: str
    arguments: dict[str, Any]
    raw: str
    positional: tuple[Any, ...] = ()


@dataclass(frozen=True)
class ParseError:
    """Something that was meant as a tool call but could not be read.

    A value to show the model, not an exception.

    Attributes:
        message: What is wrong, written for the model to read and correct.
        raw: The offending source text.
        position: Index in the parsed text (or the stream) where the problem is,
            when known.
    """

    message: str
    raw: str
    position: int | None


@dataclass(frozen=True)
class ParseResult:
    """Everything :func:`parse_calls` found in one text.

    Attributes:
        calls: The calls, in the order they appear.
        text: The free text with every call and every unreadable call removed,
            stripped of surrounding whitespace.
        errors: One entry per span that was meant as a call but could not be read.
    """

    calls: list[ParsedCall]
    text: str
    errors: list[ParseError]


@dataclass(frozen=True)
class TextDelta:
    """Text that is certainly not part of a tool call.

    Attributes:
        text: The new text, never empty.
    """

    text: str


@dataclass(frozen=True)
class CallStarted:
    """A ``<tool_call>`` tag was seen; a call (or an error) follows."""


@dataclass(frozen=True)
class CallParsed:
    """A ``<tool_call>`` block was read.

    Attributes:
        call: The call.
    """

    call: ParsedCall


@dataclass(frozen=True)
class CallError:
    """A ``<tool_call>`` block could not be read.

    Attributes:
        error: What went wrong.
    """

    error: ParseError


StreamEvent = TextDelta | CallStarted | CallParsed | CallError
"""What :meth:`StreamingCallParser.feed` and :meth:`StreamingCallParser.close` yield."""


def parse_calls(
    text: str,
    *,
    formats: tuple[str, ...] = FORMATS,
    known_tools: Collection[str] | None = None,
    call_format: CallFormat = HERMES,
) -> ParseResult:
    """Finds the tool calls in a model's output.

    Never raises on any text: what was meant as a call but cannot be read becomes
    a :class:`ParseError`, and prose yields neither calls nor errors.

    Where each format is looked for:

    * ``hermes``: every ``<tool_call>`` … ``</tool_call>`` block. A block ends at
      the first closing tag, or where the next ``<tool_call>`` begins, or at the
      end of the text; a block left unclosed is read if its content is complete,
      else reported as truncated. Tags are found by plain text search (as a
      stream must), so a tag inside a string still counts as a tag. Inside a
      block the intent is unambiguous, so JSON, a Python-literal dict (single
      quotes, True/None) and Python call syntax are all accepted whatever
      ``formats`` says. A block of more than 65,536 characters is an error.
    * ``json``: JSON objects anywhere in the free text, and lists of them, that
      start with a key (NaN, Infinity, floats out of range and ints of more
      than 640 digits are rejected, in every format, as no tool should receive
      them). An object is a call when
      its keys are among name/arguments/parameters/id/type (or it is the OpenAI
      ``{"function": {...}}`` shape) and it has an ``arguments``/``parameters``
      key, stands on its own line(s), or names a known tool. A list is a call
      list when every element is. Text that starts like a call object
      (``{"name":``) but is not valid JSON is an error.
    * ``python``: without ``known_tools``, a call or a bracketed list of calls
      that fills a line of its own (multi-line brackets and a final ``.`` or ``;``
      allowed); with
      ``known_tools``, any ``name(`` whose name is known, anywhere in the text,
      and ``[name(...), ...]`` lists of known calls. Also the MobileLLM wrapper
      ``{API: "name(...)"}`` (inner quotes escaped or not), any name.
    * Fenced code blocks whose whole content is a JSON call value or a Python call
      expression are taken whole, fence included; other closed fenced blocks are
      code listings and are left alone entirely.

    Args:
        text: The model output.
        formats: Which of ``"hermes"``, ``"json"``, ``"python"`` to look for.
        known_tools: Tool names. When given, Python call syntax outside
            ``<tool_call>`` blocks and wrappers counts only for these names, so that
            prose such as ``note(s)`` is never taken for a call.
        call_format: Whose call blocks ``hermes`` looks for (their tags).

    Returns:
        The calls in text order, the remaining free text and the errors.

    Raises:
        UserError: ``text`` is not a string, ``formats`` names an unknown format
            or ``known_tools`` is a single string.
    """
    if not isinstance(text, str):
        raise UserError(f"parse_calls needs a str, got {type(text).__name__}")
    wanted = _check_formats(formats)
    if isinstance(known_tools, str):
        raise UserError("known_tools must be a collection of names, not one string")
    options = _Options(
        json="json" in wanted,
        python="python" in wanted,
        known=None if known_tools is None else frozenset(known_tools),
    )

    found: list[_Found] = []
    free: list[tuple[int, int]] = []
    if "hermes" in wanted:
        cursor = 0
        for start, end, content_start, content_end, terminated in _find_blocks(text, call_format.open_tag, call_format.close_tag):
            free.append((cursor, start))
            calls, errors = _parse_block(
                text[content_start:content_end], raw=text[start:end], block_start=start, terminated=terminated,
                open_len=len(call_format.open_tag),
            )
            found.append(_Found(start, end, calls, errors))
            cursor = end
        free.append((cursor, len(text)))
    else:
        free.append((0, len(text)))
    if options.json or options.python:
        for start, end in free:
            if start < end:
                found.extend(_scan_free(text[start:end], start, options))
    found.sort(key=lambda f: f.start)

    pieces: list[str] = []
    cursor = 0
    for item in found:
        pieces.append(text[cursor : item.start])
        cursor = item.end
    pieces.append(text[cursor:])
    return ParseResult(
        calls=[call for item in found for call in item.calls],
        text="".join(pieces).strip(),
        errors=[error for item in found for error in item.errors],
    )


class StreamingCallParser:
    """Follows Hermes ``<tool_call>`` blocks in text that arrives in pieces.

    Text outside blocks is passed on as soon as it cannot be the start of a
    ``<tool_call>`` tag; a block is read when its closing tag (or the next opening
    tag) arrives. However the text is cut into deltas, the events carry the same
    calls, the same errors (positions count from the start of the stream) and the
    same concatenated text: the calls and errors of
    ``parse_calls(text, formats=("hermes",))``, and its text before stripping.

    Only the Hermes format is followed: bare JSON or Python-syntax calls pass
    through as text (run :func:`parse_calls` on the final text for those).

    A block that grows past 65,536 characters is reported (the same error
    :func:`parse_calls` gives) as soon as it does; the rest of it is dropped as
    it arrives, so a runaway block costs neither memory nor rescanning.

    Example:
        >>> parser = StreamingCallParser()
        >>> events = parser.feed('Sure. <tool_call>{"name": "f", "argu')
        >>> events += parser.feed('ments": {}}</tool_call>')
        >>> events += parser.close()
        >>> [type(e).__name__ for e in events]
        ['TextDelta', 'CallStarted', 'CallParsed']
    """

    def __init__(self, *, call_format: CallFormat = HERMES) -> None:
        self._open = call_format.open_tag
        self._close = call_format.close_tag
        self._reset()

    def _reset(self) -> None:
        # In text mode _buf holds text kept back because it may start a tag; in
        # call mode it holds the block content seen so far.
        self._buf = ""
        self._in_call = False
        # Stream position of _buf's start (text mode) or of the block's tag (call
        # mode; plus what was dropped of a block reported as too long).
        self._offset = 0
        # Where to resume looking for the closing tag, so long blocks stay linear.
        self._scan_from = 0
        # Whether this block was already reported as too long (its content is
        # then dropped as it arrives, and its end reports nothing more).
        self._too_long = False

    def feed(self, delta: str) -> list[StreamEvent]:
        """Takes the next piece of model output.

        Args:
            delta: New text, any length (empty is fine).

        Returns:
            The events this piece completes, in order.
        """
        events: list[StreamEvent] = []
        self._buf += delta
        while True:
            if not self._in_call:
                start = self._buf.find(self._open)
                if start < 0:
                    keep = _partial_suffix(self._buf, self._open)
                    ready = self._buf[: len(self._buf) - keep]
                    if ready:
                        events.append(TextDelta(ready))
                    self._offset += len(ready)
                    self._buf = self._buf[len(ready) :]
                    return events
                if start:
                    events.append(TextDelta(self._buf[:start]))
                events.append(CallStarted())
                self._offset += start
                self._buf = self._buf[start + len(self._open) :]
                self._in_call = True
                self._scan_from = 0
            else:
                end = self._buf.find(self._close, self._scan_from)
                reopen = self._buf.find(self._open, self._scan_from)
                if reopen >= 0 and (end < 0 or reopen < end):
                    # A new block begins before this one was closed.
                    content = self._buf[: reopen - _partial_suffix(self._buf, self._close, end=reopen)]
                    events.extend(self._block_events(content, raw=self._open + self._buf[:reopen], terminated=False))
                    self._offset += len(self._open) + reopen
                    self._buf = self._buf[reopen:]
                    self._in_call = False
                    continue
                if end < 0:
                    # Neither tag (the closing one is the longer) can start before this.
                    self._scan_from = max(0, len(self._buf) - len(self._close) + 1)
                    if len(self._buf) > _MAX_BLOCK_CHARS + len(self._close):
                        # Certainly too long: say so now and keep only what may start a tag.
                        if not self._too_long:
                            events.extend(self._block_events(self._buf, raw=self._open + self._buf, terminated=False))
                            self._too_long = True
                        self._offset += self._scan_from
                        self._buf = self._buf[self._scan_from :]
                        self._scan_from = 0
                    return events
                content = self._buf[:end]
                events.extend(self._block_events(content, raw=self._open + content + self._close, terminated=True))
                self._offset += len(self._open) + end + len(self._close)
                self._buf = self._buf[end + len(self._close) :]
                self._in_call = False

    def close(self) -> list[StreamEvent]:
        """Ends the stream: flushes kept-back text and reads an unclosed block.

        An unclosed block is read if its content is complete (a model stopped by
        a stop string often omits the closing tag), else reported as truncated.
        The parser is then ready for a new stream.

        Returns:
            The remaining events.
        """
        events: list[StreamEvent] = []
        if self._in_call:
            content = self._buf[: len(self._buf) - _partial_suffix(self._buf, self._close)]
            events.extend(self._block_events(content, raw=self._open + self._buf, terminated=False))
        elif self._buf:
            events.append(TextDelta(self._buf))
        self._reset()
        return events

    def _block_events(self, content: str, *, raw: str, terminated: bool) -> list[StreamEvent]:
        if self._too_long:  # the block's end, already reported
            self._too_long = False
            return []
        calls, errors = _parse_block(
            content, raw=raw, block_start=self._offset, terminated=terminated, open_len=len(self._open)
        )
        events: list[StreamEvent] = [CallParsed(call) for call in calls]
        events.extend(CallError(error) for error in errors)
        return events


# ---------------------------------------------------------------------------
# Shared pieces


_IDENT = r"[^\W\d]\w*"
_DOTTED = rf"{_IDENT}(?:\.{_IDENT})*"
_IDENT_RE = re.compile(_IDENT)
_DOTTED_RE = re.compile(_DOTTED)
# Text that starts like Python call syntax: name( or [name(.
_PY_START_RE = re.compile(rf"(?:\[\s*)?({_DOTTED})\(")
# A line that starts like Python call syntax (group 1 is where the call starts).
_PY_LINE_RE = re.compile(rf"^[ \t]*((?:\[\s*)?{_DOTTED}\()", re.MULTILINE)
_PY_KNOWN_LIST_RE = re.compile(rf"\[\s*({_DOTTED})\(")
_PY_KNOWN_CALL_RE = re.compile(rf"(?<![\w.])({_DOTTED})\(")
# Only objects (or lists of objects) starting with a key can be calls; not even
# trying to decode other brackets keeps "[[[[..." linear, and asking for the
# whole first key and its colon spares decoding '[{"' * n at every bracket. The
# key's scan stops at the next quote, so every scan is short.
_JSON_OPEN_RE = re.compile(r'(?:\[\s*)?\{\s*"[^"\\]*(?:\\.[^"\\]*)*"\s*:', re.DOTALL)
_JSON_CALL_START_RE = re.compile(r'(?:\[\s*)?\{\s*"(?:name|function)"\s*:')
_WRAPPER_RE = re.compile(r"""\{\s*(?:"API"|'API'|API)\s*:\s*""", re.IGNORECASE)
# Only a fence with a head line is a candidate: "```" * 50_000 holds no block to try.
_FENCE_HEAD_RE = re.compile(r"```[ \t]*[\w+.-]*[ \t]*\r?\n")
_NEWLINE_RE = re.compile(r"\r\n|\r|\n")
_SPACE_RE = re.compile(r"\s*")
_BRACKET_RE = re.compile(r"""[()\[\]{}"'#]""")
_CLOSER = {"(": ")", "[": "]", "{": "}"}
# A single-quoted Python string cannot cross a line, so its scan stops at one:
# an apostrophe in prose must not swallow the lines after it.
_STRING_END_RE = {
    '"': re.compile(r'\\.|"|\n', re.DOTALL),
    "'": re.compile(r"\\.|'|\n", re.DOTALL),
    '"""': re.compile(r'\\.|"""', re.DOTALL),
    "'''": re.compile(r"\\.|'''", re.DOTALL),
}
_CALL_KEYS = frozenset({"name", "arguments", "parameters", "id", "type"})
_OPENAI_KEYS = frozenset({"function", "id", "type"})
_LINE_END_PUNCTUATION = ("", ".", ";")


# Python refuses to turn an int of more than sys.get_int_max_str_digits() digits
# into text (4300 by default; a process may lower it to 640 but no further). A
# value we return must survive str() and json.dumps under any setting, and no
# tool argument needs more digits, so longer numbers are errors.
_MAX_INT_DIGITS = 640
_INT_LIMIT = 10**_MAX_INT_DIGITS
_TOO_MANY_DIGITS = f"a number with more than {_MAX_INT_DIGITS} digits is too large"
_LONG_DIGITS_RE = re.compile(rf"[\d_]{{{_MAX_INT_DIGITS + 1}}}")

# A call block longer than this is an error whatever it holds: an on-device
# model's whole context is a few thousand tokens, so only a runaway generation
# gets here, and a stream must not keep (and rescan) it without end.
_MAX_BLOCK_CHARS = 65_536

# A failed decode builds a JSONDecodeError, which counts the newlines from the
# start of the document to the error: decoding in place at each of the 65,536
# candidates of '[{"' * 65_536 took seconds. Decoding a window that starts at the
# candidate keeps each attempt's cost to the size of its value; the window
# doubles while its end may be what stopped the decoder.
_DECODE_WINDOW = 64
# How far before the point where the decoder stopped reading it may report an
# error: an unfinished "-Infinity" or "\uXXXX" escape is reported at its start.
_DECODE_LOOKAHEAD = 16


@dataclass(frozen=True)
class _Rejected:
    """A JSON number no tool should receive, found while decoding (see :func:`_check_numbers`)."""

    message: str


def _reject_constant(word: str) -> _Rejected:
    return _Rejected(f"{word} is not a JSON number")


def _bounded_int(literal: str) -> int | _Rejected:
    if len(literal) - literal.startswith("-") > _MAX_INT_DIGITS:
        return _Rejected(_TOO_MANY_DIGITS)
    return int(literal)


def _finite_float(literal: str) -> float | _Rejected:
    value = float(literal)
    if not math.isfinite(value):
        shown = literal if len(literal) <= 40 else f"{literal[:20]}...{literal[-10:]}"
        return _Rejected(f"number {shown} is out of range")
    return value


# NaN/Infinity are Python extensions of JSON, 1e999 would silently become inf,
# and a 5,000-digit int cannot even be printed; none is a value a tool should
# receive. The hooks mark them rather than raise, so that whether a window of
# the text decodes depends on its syntax alone (see _decode).
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float, parse_int=_bounded_int)


class _JSONFailure(ValueError):
    """Text that is not valid JSON, with the absolute position of the problem.

    Attributes:
        msg: What is wrong, as :class:`json.JSONDecodeError` says it.
        pos: Index in the whole text.
    """

    def __init__(self, msg: str, pos: int) -> None:
        super().__init__(f"{msg} (char {pos})")
        self.msg = msg
        self.pos = pos


def _decode(text: str, start: int) -> tuple[Any, int]:
    """``_DECODER.raw_decode(text, start)`` in time that grows with the value, not with ``start``.

    Returns:
        The value and the index just past it.

    Raises:
        _JSONFailure: Not valid JSON.
        ValueError: A number no tool should receive (see :func:`_check_numbers`).
        RecursionError: Nested too deeply (decided by a prefix, so a window suffices).
    """
    size = _DECODE_WINDOW
    while True:
        stop = start + size
        last = stop >= len(text)
        window = text if last and start == 0 else text[start:stop]
        try:
            value, end = _DECODER.raw_decode(window)
        except json.JSONDecodeError as exc:
            # An unterminated string is reported where it starts, however far
            # the decoder read; other errors where it stopped reading.
            cut = exc.pos >= len(window) - _DECODE_LOOKAHEAD or exc.msg.startswith("Unterminated string")
            if last or not cut:
                raise _JSONFailure(exc.msg, start + exc.pos) from None
        else:
            # A value ending at the window's end may be a number cut short.
            if last or end < len(window):
                _check_numbers(value)
                return value, start + end
        size *= 2


def _decode_whole(text: str) -> Any:
    """``_DECODER.decode(text)``, numbers checked.

    Raises:
        ValueError: Not one valid JSON value, or a number no tool should receive.
        RecursionError: Nested too deeply.
    """
    value = _DECODER.decode(text)
    _check_numbers(value)
    return value


def _check_numbers(value: Any) -> None:
    """Raises ValueError for a number the decoder marked as rejected, if there is one."""
    problem = _rejected_number(value)
    if problem is not None:
        raise ValueError(problem)


def _rejected_number(value: Any) -> str | None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, _Rejected):
            return item.message
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


@dataclass(frozen=True)
class _Options:
    json: bool
    python: bool
    known: frozenset[str] | None


@dataclass(frozen=True)
class _Found:
    """A span of the text taken as a call site (with its calls or its errors)."""

    start: int
    end: int
    calls: list[ParsedCall]
    errors: list[ParseError]


def _check_formats(formats: tuple[str, ...]) -> frozenset[str]:
    if isinstance(formats, str):
        raise UserError(f"formats must be a tuple of names, not the string {formats!r}")
    unknown = [name for name in formats if name not in FORMATS]
    if unknown:
        raise UserError(f"unknown call formats {unknown}; known: {list(FORMATS)}")
    return frozenset(formats)


def _partial_suffix(text: str, token: str, *, end: int | None = None) -> int:
    """Length of the longest suffix of text[:end] that is a proper prefix of token."""
    end = len(text) if end is None else end
    for size in range(min(end, len(token) - 1), 0, -1):
        if text.endswith(token[:size], 0, end):
            return size
    return 0


def _strip_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _skip_space(text: str, start: int) -> int:
    match = _SPACE_RE.match(text, start)
    return match.end() if match else start


def _line_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    """Start of the line holding text[start] and end of the line holding text[end - 1]."""
    line_end = text.find("\n", end)
    return text.rfind("\n", 0, start) + 1, len(text) if line_end < 0 else line_end


# ---------------------------------------------------------------------------
# Hermes blocks


def _find_blocks(text: str, open_tag: str, close_tag: str) -> list[tuple[int, int, int, int, bool]]:
    """(start, end, content_start, content_end, terminated) of every block.

    A block ends at its closing tag, at the next opening tag (small models
    forget to close one call before the next) or at the end of the text.
    """
    blocks = []
    close = -1  # the next closing tag, kept so that many opening tags stay linear
    start = text.find(open_tag)
    while start >= 0:
        content_start = start + len(open_tag)
        if 0 <= close < content_start:
            close = -1
        if close < 0:
            close = text.find(close_tag, content_start)
            if close < 0:
                close = len(text) + 1  # none left
        reopen = text.find(open_tag, content_start)
        if 0 <= reopen < close:
            content_end = reopen - _partial_suffix(text, close_tag, end=reopen)
            blocks.append((start, reopen, content_start, max(content_end, content_start), False))
            start = reopen
        elif close > len(text):
            content_end = len(text) - _partial_suffix(text, close_tag)
            blocks.append((start, len(text), content_start, max(content_end, content_start), False))
            break
        else:
            blocks.append((start, close + len(close_tag), content_start, close, True))
            start = text.find(open_tag, close + len(close_tag))
    return blocks


def _parse_block(
    content: str, *, raw: str, block_start: int, terminated: bool, open_len: int
) -> tuple[list[ParsedCall], list[ParseError]]:
    """Reads the content of one ``<tool_call>`` block (shared by the batch and stream parsers)."""
    if len(content) > _MAX_BLOCK_CHARS:
        # Whatever its end, so that a stream can say it before the end arrives.
        message = f"a <tool_call> block longer than {_MAX_BLOCK_CHARS} characters"
        return [], [ParseError(message, raw[: open_len + _MAX_BLOCK_CHARS], block_start)]
    base = block_start + open_len
    start, end = _strip_bounds(content, 0, len(content))
    if content.startswith("```", start):
        newline = content.find("\n", start, end)
        start = end if newline < 0 else newline
        if content.endswith("```", start, end):
            end -= 3
        start, end = _strip_bounds(content, start, end)
    if start == end:
        message = (
            "empty <tool_call> block" if terminated else "truncated <tool_call> block: the text ends before its content"
        )
        return [], [ParseError(message, raw, block_start)]

    values: list[Any] | None = None
    json_error: tuple[str, int] | None = None
    if content[start] in "{[":
        values, json_error = _decode_json_values(content, start, end, base)
        if values is None:
            values = _literal_values(content[start:end])
    if values is not None:
        calls, errors = _calls_from_values(values, raw=raw, position=base + start)
        if not calls and not errors:
            errors = [ParseError("the <tool_call> block holds no call", raw, base + start)]
    elif _PY_START_RE.match(content, start):
        calls, errors = _python_calls(content[start:end], raw=raw, base=base + start)
    elif json_error is not None:
        calls, errors = [], [ParseError(json_error[0], raw, json_error[1])]
    else:
        message = "expected a JSON object or name(arg=value) in the <tool_call> block"
        calls, errors = [], [ParseError(message, raw, base + start)]
    if not terminated:
        prefix = "truncated <tool_call> block (no closing tag): "
        errors = [ParseError(prefix + e.message, e.raw, e.position) for e in errors]
    return calls, errors


def _decode_json_values(text: str, start: int, end: int, base: int) -> tuple[list[Any] | None, tuple[str, int] | None]:
    """JSON values separated by whitespace or commas filling text[start:end], or (None, (message, position))."""
    values = []
    cursor = start
    while cursor < end:
        try:
            value, cursor = _decode(text, cursor)
        except _JSONFailure as exc:
            return None, (f"invalid JSON: {exc.msg}", base + exc.pos)
        except (ValueError, RecursionError) as exc:
            return None, (f"invalid JSON: {exc}", base + cursor)
        values.append(value)
        while cursor < end and (text[cursor].isspace() or text[cursor] == ","):
            cursor += 1
    return values, None


def _literal_values(source: str) -> list[Any] | None:
    """The value of a Python literal such as ``{'name': 'f', 'arguments': {'on': True}}``, if it is one."""
    tree = _parse_python(source)
    if isinstance(tree, tuple):
        return None
    try:
        return [_literal(tree.body)]
    except _NotLiteral:
        return None


def _calls_from_values(values: list[Any], *, raw: str, position: int) -> tuple[list[ParsedCall], list[ParseError]]:
    calls: list[ParsedCall] = []
    errors: list[ParseError] = []
    for value in values:
        for item in value if isinstance(value, list) else [value]:
            result = _call_from_mapping(item, raw=raw, position=position)
            if isinstance(result, ParsedCall):
                calls.append(result)
            else:
                errors.append(result)
    return calls, errors


def _call_from_mapping(item: Any, *, raw: str, position: int) -> ParsedCall | ParseError:
    """A call from a decoded ``{"name", "arguments"}`` or ``{"function": {...}}`` object."""
    if not isinstance(item, dict):
        return ParseError(f"expected a call object with a 'name', got {_json_type(item)}", raw, position)
    function = item.get("function")
    body = function if isinstance(function, dict) and "name" not in item else item
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        return ParseError("the call object has no 'name' string", raw, position)
    name = name.strip()
    arguments = body["arguments"] if "arguments" in body else body.get("parameters")
    if arguments is None:
        arguments = {}
    elif isinstance(arguments, str):
        # OpenAI-style APIs encode the arguments object as a string.
        if not arguments.strip():
            arguments = {}
        else:
            try:
                arguments = _decode_whole(arguments)
            except (ValueError, RecursionError) as exc:
                return ParseError(f"'arguments' of {name!r} is a string but not a JSON object: {exc}", raw, position)
    if not isinstance(arguments, dict):
        return ParseError(f"'arguments' of {name!r} must be an object, got {_json_type(arguments)}", raw, position)
    return ParsedCall(name=name, arguments=arguments, raw=raw)


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


# ---------------------------------------------------------------------------
# Free text: JSON, Python syntax, wrappers and fences outside Hermes blocks


class _Finder:
    """The next match of one pattern at or after a position, cached to keep scanning linear."""

    def __init__(
        self,
        pattern: re.Pattern[str],
        text: str,
        *,
        group: int = 0,
        accept: Callable[[re.Match[str]], bool] | None = None,
    ) -> None:
        self._pattern = pattern
        self._text = text
        self._group = group
        self._accept = accept
        self._cached = -1
        self._done = False

    def find(self, pos: int) -> int | None:
        if self._cached >= pos:
            return self._cached
        while not self._done:
            match = self._pattern.search(self._text, pos)
            if match is None:
                self._done = True
            elif self._accept is None or self._accept(match):
                self._cached = match.start(self._group)
                return self._cached
            else:
                pos = match.start() + 1
        return None


@dataclass(frozen=True)
class _Segment:
    """One stretch of free text: its text, its position in the whole text, the options."""

    text: str
    base: int
    options: _Options
    brackets: _Brackets


_Try = Callable[[_Segment, int], _Found | int]


def _scan_free(seg: str, base: int, options: _Options) -> list[_Found]:
    """Call sites in one stretch of free text (``base`` is its position in the whole text).

    Scans left to right; at each candidate position the detectors run in priority
    order, and a hit is skipped whole, so a call inside a JSON string or a JSON
    object inside a call's arguments is never taken on its own. A detector that
    declines says from where it may look again.
    """
    segment = _Segment(seg, base, options, _Brackets(seg))
    detectors: list[tuple[str, _Finder, _Try]] = []
    if options.json or options.python:
        detectors.append(("fence", _Finder(_FENCE_HEAD_RE, seg), _try_fence))
    if options.python:
        detectors.append(("wrapper", _Finder(_WRAPPER_RE, seg), _try_wrapper))
    if options.json:
        detectors.append(("json", _Finder(_JSON_OPEN_RE, seg), _try_json))
    if options.python:
        known = options.known
        if known is None:
            detectors.append(("line", _Finder(_PY_LINE_RE, seg, group=1), _try_line))
        else:
            detectors.append(
                ("list", _Finder(_PY_KNOWN_LIST_RE, seg, accept=lambda m: m.group(1) in known), _try_known_list)
            )
            detectors.append(
                ("call", _Finder(_PY_KNOWN_CALL_RE, seg, accept=lambda m: m.group(1) in known), _try_known_call)
            )

    found: list[_Found] = []
    floors = {kind: 0 for kind, _, _ in detectors}
    pos = 0
    while pos < len(seg):
        starts = {kind: finder.find(max(pos, floors[kind])) for kind, finder, _ in detectors}
        candidates = [start for start in starts.values() if start is not None]
        if not candidates:
            break
        here = min(candidates)
        hit = None
        for kind, _, attempt in detectors:
            if starts[kind] != here:
                continue
            result = attempt(segment, here)
            if isinstance(result, _Found):
                hit = result
                break
            floors[kind] = max(here + 1, result)
            if kind in ("fence", "json"):
                # A fenced block or JSON value that is not a call is skipped whole by
                # every detector: code listings and data are not calls.
                pos = max(pos, result)
        if hit is not None:
            found.append(hit)
            pos = hit.end - base
    return found


def _try_fence(segment: _Segment, at: int) -> _Found | int:
    """A fenced code block: taken whole if it holds one call value, else skipped whole as a listing."""
    seg, base, options = segment.text, segment.base, segment.options
    head = _FENCE_HEAD_RE.match(seg, at)
    if head is None:
        return at + 1
    start = _skip_space(seg, head.end())
    closing = seg.find("```", head.end())
    if options.json and seg.startswith(("{", "["), start):
        # Decode first and look for the fence after the value: a string inside
        # may itself hold backticks.
        try:
            value, value_end = _decode(seg, start)
        except (ValueError, RecursionError) as exc:
            if _JSON_CALL_START_RE.match(seg, start):
                end = len(seg) if closing < 0 else closing + 3
                return _Found(base + at, base + end, [], [_json_call_error(exc, seg[at:end], base=base, start=start)])
        else:
            after = _skip_space(seg, value_end)
            items = _json_items(value)
            if seg.startswith("```", after) and items and all(_is_json_call(i, options.known) for i in items):
                calls, errors = _calls_from_values([value], raw=seg[at : after + 3], position=base + start)
                return _Found(base + at, base + after + 3, calls, errors)
    if closing < 0:
        return at + 1  # not closed (yet): let the other detectors read the content
    _, end = _strip_bounds(seg, start, closing)
    name = _PY_START_RE.match(seg, start, end)
    if options.python and name and (options.known is None or name.group(1) in options.known):
        call_end = _Brackets(seg, end).chain(start)
        if call_end is None or call_end == end:
            calls, errors = _python_calls(seg[start:end], raw=seg[at : closing + 3], base=base + start)
            return _Found(base + at, base + closing + 3, calls, errors)
    return closing + 3


def _try_wrapper(segment: _Segment, at: int) -> _Found | int:
    """The MobileLLM paper's ``{API: "name(...)"}``, inner quotes escaped or not."""
    seg, base = segment.text, segment.base
    match = _WRAPPER_RE.match(seg, at)
    if match is None:
        return at + 1
    value = match.end()
    if seg.startswith('"', value):
        try:
            source, after = _decode(seg, value)
        except (ValueError, RecursionError):
            pass
        else:
            close = _skip_space(seg, after)
            if isinstance(source, str) and seg.startswith("}", close):
                raw = seg[at : close + 1]
                # Positions inside a decoded string do not map back through its escapes.
                calls, errors = _python_calls(source.strip(), raw=raw, base=base + value, exact=False)
                return _Found(base + at, base + close + 1, calls, errors)
    quote = seg[value] if value < len(seg) and seg[value] in "\"'" else ""
    start = value + len(quote)
    if _PY_START_RE.match(seg, start):
        call_end = segment.brackets.chain(start)
        if call_end is not None:
            close = call_end + len(quote) if seg.startswith(quote, call_end) else -1
            if close >= 0:
                close = _skip_space(seg, close)
            if close >= 0 and seg.startswith("}", close):
                raw = seg[at : close + 1]
                calls, errors = _python_calls(seg[start:call_end], raw=raw, base=base + start)
                return _Found(base + at, base + close + 1, calls, errors)
    end = segment.brackets.group(at) or len(seg)
    message = 'malformed {API: ...} wrapper: expected {API: "name(arg=value)"}'
    return _Found(base + at, base + end, [], [ParseError(message, seg[at:end], base + at)])


def _try_json(segment: _Segment, at: int) -> _Found | int:
    seg, base, options = segment.text, segment.base, segment.options
    try:
        value, end = _decode(seg, at)
    except (ValueError, RecursionError) as exc:
        if _JSON_CALL_START_RE.match(seg, at) is not None:
            end = segment.brackets.group(at) or len(seg)
            return _Found(base + at, base + end, [], [_json_call_error(exc, seg[at:end], base=base, start=at)])
        if isinstance(exc, RecursionError):
            # Too deep for the decoder: skip the whole nest, or every bracket in it
            # would be decoded again to the same depth (quadratic time).
            return segment.brackets.group(at) or len(seg)
        return at + 1
    items = _json_items(value)

    def alone() -> bool:
        line_start, line_end = _line_bounds(seg, at, end)
        return not seg[line_start:at].strip() and not seg[end:line_end].strip()

    if not items or not all(_is_json_call(item, options.known, alone=alone) for item in items):
        return end
    calls, errors = _calls_from_values([value], raw=seg[at:end], position=base + at)
    return _Found(base + at, base + end, calls, errors)


def _json_call_error(exc: Exception, raw: str, *, base: int, start: int) -> ParseError:
    """An error for text that starts like a JSON call at ``start`` of a stretch at ``base``."""
    if isinstance(exc, _JSONFailure):
        return ParseError(f"malformed or truncated JSON call: {exc.msg}", raw, base + exc.pos)
    return ParseError(f"malformed JSON call: {exc}", raw, base + start)


def _json_items(value: Any) -> list[dict[str, Any]] | None:
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        return value
    return None


def _is_json_call(
    item: dict[str, Any], known: frozenset[str] | None, *, alone: Callable[[], bool] = lambda: True
) -> bool:
    """Whether a JSON object is meant as a call (not, say, a person with a name).

    Args:
        item: The object.
        known: Known tool names, if any.
        alone: Whether the object stands on its own line(s); a fenced block's
            whole content does. Asked last, as it looks at the whole line.
    """
    function = item.get("function")
    if isinstance(function, dict) and isinstance(function.get("name"), str) and item.keys() <= _OPENAI_KEYS:
        return True
    name = item.get("name")
    if not isinstance(name, str) or not item.keys() <= _CALL_KEYS:
        return False
    return "arguments" in item or "parameters" in item or (known is not None and name in known) or alone()


def _try_line(segment: _Segment, at: int) -> _Found | int:
    """A call or list of calls filling its line(s) (Python syntax without known tools)."""
    seg, base = segment.text, segment.base
    end = segment.brackets.chain(at)
    if end is None:
        if seg.find("\n", at) >= 0:
            # An unclosed bracket spanning lines is more likely prose than a call
            # cut short; a call cut at the end of the text ends on the last line.
            return at + 1
        message = "unterminated call: the text ends inside it"
        return _Found(base + at, base + len(seg), [], [ParseError(message, seg[at:], base + at)])
    _, line_end = _line_bounds(seg, end, end)
    tail = seg[end:line_end].strip()
    if tail not in _LINE_END_PUNCTUATION:
        return end
    calls, errors = _python_calls(seg[at:end], raw=seg[at:end], base=base + at)
    return _Found(base + at, base + seg.index(tail, end) + len(tail), calls, errors)


def _try_known_list(segment: _Segment, at: int) -> _Found | int:
    seg, base, options = segment.text, segment.base, segment.options
    end = segment.brackets.chain(at)
    if end is None:
        return at + 1
    calls, errors = _python_calls(seg[at:end], raw=seg[at:end], base=base + at)
    assert options.known is not None
    if errors or not calls or any(call.name not in options.known for call in calls):
        # Not a clean list of known calls: let the calls inside be found one by one.
        return at + 1
    return _Found(base + at, base + end, calls, errors)


def _try_known_call(segment: _Segment, at: int) -> _Found | int:
    seg, base = segment.text, segment.base
    end = segment.brackets.chain(at)
    if end is None:
        message = "unterminated call: the text ends inside it"
        return _Found(base + at, base + len(seg), [], [ParseError(message, seg[at:], base + at)])
    calls, errors = _python_calls(seg[at:end], raw=seg[at:end], base=base + at)
    return _Found(base + at, base + end, calls, errors)


# ---------------------------------------------------------------------------
# Bracket scanning: where does a Python expression end?


class _Brackets:
    """Where bracket groups end in text[:end], as Python would see them.

    Strings and comments are skipped. Each scan records the end of every group it
    passes through, so scanning again from any of those brackets is immediate:
    tokenizing from an opening bracket does not depend on where the scan began,
    so the end found by an enclosing scan is the end a fresh scan would find.
    Without this, text such as ``"a(\\n" * 10_000`` would take quadratic time.
    """

    def __init__(self, text: str, end: int | None = None) -> None:
        self.text = text
        self.end = len(text) if end is None else end
        self._ends: dict[int, int | None] = {}

    def group(self, start: int) -> int | None:
        """Index just past the group opening at text[start], None if the text ends inside it.

        A mismatched closer ends the group early: the parser then reports the
        exact problem.
        """
        text, end, ends = self.text, self.end, self._ends
        stack: list[tuple[str, int]] = []
        cursor = start
        while True:
            match = _BRACKET_RE.search(text, cursor, end)
            if match is None:
                return self._settle(stack, None)
            char, at = match.group(), match.start()
            if char in _CLOSER:
                if at in ends:
                    known = ends[at]
                    if known is None or not stack:
                        return self._settle(stack, known)
                    cursor = known
                else:
                    stack.append((_CLOSER[char], at))
                    cursor = at + 1
            elif char in ")]}":
                if not stack:
                    return at + 1
                closer, opened = stack.pop()
                if closer != char:
                    # A scan from any bracket still open stops at this same mismatch.
                    return self._settle([*stack, (closer, opened)], at + 1)
                ends[opened] = at + 1
                if not stack:
                    return at + 1
                cursor = at + 1
            elif char == "#":
                newline = text.find("\n", at, end)
                if newline < 0:
                    return self._settle(stack, None)
                cursor = newline + 1
            else:
                after = _skip_string(text, at, end)
                if after is None:
                    return self._settle(stack, None)
                cursor = after

    def _settle(self, stack: list[tuple[str, int]], result: int | None) -> int | None:
        """Records that every bracket still open ends where this scan did."""
        for _, opened in stack:
            self._ends[opened] = result
        return result

    def chain(self, start: int) -> int | None:
        """End of ``name(...)`` or ``[...]`` at text[start] with trailing calls, subscripts and attributes.

        The trailers are included so that ``__import__('os').system('x')`` is seen
        whole (and rejected), not as a harmless first call.
        """
        text, end = self.text, self.end
        cursor: int | None
        if text.startswith("[", start):
            cursor = self.group(start)
        else:
            name = _DOTTED_RE.match(text, start, end)
            if name is None or not text.startswith("(", name.end()):
                return None
            cursor = self.group(name.end())
        while cursor is not None and cursor < end:
            if text[cursor] in "([":
                cursor = self.group(cursor)
            elif text[cursor] == "." and (attribute := _IDENT_RE.match(text, cursor + 1, end)):
                cursor = attribute.end()
            else:
                break
        return cursor


def _skip_string(text: str, start: int, end: int) -> int | None:
    quote = text[start] * 3 if text.startswith(text[start] * 3, start) else text[start]
    pattern = _STRING_END_RE[quote]
    cursor = start + len(quote)
    while True:
        match = pattern.search(text, cursor, end)
        if match is None:
            return None
        if match.group().startswith("\\"):
            cursor = match.end()
            continue
        return match.end() if match.group() != "\n" else match.start()


# ---------------------------------------------------------------------------
# Python call syntax through ast, literals only


class _NotLiteral(Exception):
    def __init__(self, message: str, node: ast.expr | ast.keyword) -> None:
        super().__init__(message)
        self.message = message
        self.node = node


def _parse_python(source: str) -> ast.Expression | tuple[str, int]:
    """The parsed expression, or (message, offset in source)."""
    try:
        # Odd escapes ("C:\path") warn; the warning must neither leak nor, under
        # an error filter, turn into an exception.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.parse(source, mode="eval")
    except SyntaxError as exc:
        # Python's own refusal of a long decimal int names a setting of its own.
        long_number = _long_number(source)
        if long_number is not None:
            return _TOO_MANY_DIGITS, long_number
        offset = _char_offset(source, exc.lineno or 1, exc.offset or 1, in_bytes=False) - 1
        return f"invalid call syntax: {exc.msg}", min(max(offset, 0), len(source))
    except (RecursionError, MemoryError):
        # CPython's parser runs out of stack on "-" * 100_000 + "1" (a bare MemoryError).
        return "invalid call syntax: the expression is nested too deeply", 0
    except (ValueError, OverflowError) as exc:
        return f"invalid call syntax: {exc}", 0


def _long_number(source: str) -> int | None:
    """Offset in source of the first decimal int literal with more than _MAX_INT_DIGITS digits, if any."""
    if _LONG_DIGITS_RE.search(source) is None:
        return None
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            digits = token.string.replace("_", "")
            if token.type == tokenize.NUMBER and digits.isdigit() and len(digits) > _MAX_INT_DIGITS:
                return _char_offset(source, token.start[0], token.start[1], in_bytes=False)
    except (tokenize.TokenError, SyntaxError):
        pass  # the number, if any, came before what tokenize could not read
    return None


def _python_calls(source: str, *, raw: str, base: int, exact: bool = True) -> tuple[list[ParsedCall], list[ParseError]]:
    """Calls in ``name(...)``, ``[name(...), ...]`` or ``name(...), name(...)``.

    Args:
        source: The expression.
        raw: Source text to put in results.
        base: Position of source in the whole text.
        exact: Whether offsets in source map onto the text (not when source was
            decoded from a quoted string).
    """
    tree = _parse_python(source)
    if isinstance(tree, tuple):
        message, offset = tree
        return [], [ParseError(message, raw, base + (offset if exact else 0))]
    body = tree.body
    nodes = list(body.elts) if isinstance(body, (ast.List, ast.Tuple)) else [body]
    if not nodes:
        return [], [ParseError("an empty list of calls", raw, base)]
    calls: list[ParsedCall] = []
    errors: list[ParseError] = []
    for node in nodes:
        try:
            calls.append(_call_from_node(node, raw))
        except _NotLiteral as exc:
            offset = _char_offset(source, exc.node.lineno, exc.node.col_offset, in_bytes=True)
            errors.append(ParseError(exc.message, raw, base + (offset if exact else 0)))
        except RecursionError:
            errors.append(ParseError("arguments are nested too deeply", raw, base))
    return calls, errors


def _call_from_node(node: ast.expr, raw: str) -> ParsedCall:
    if not isinstance(node, ast.Call):
        raise _NotLiteral(f"expected a call like name(arg=value), found {_describe(node)}", node)
    name = _dotted_name(node.func)
    if name is None:
        raise _NotLiteral(f"the called object must be a plain or dotted name, not {_describe(node.func)}", node.func)
    positional = []
    for arg in node.args:
        if isinstance(arg, ast.Starred):
            raise _NotLiteral("'*' unpacking is not allowed in a call", arg)
        positional.append(_literal(arg))
    arguments: dict[str, Any] = {}
    for keyword in node.keywords:
        if keyword.arg is None:
            raise _NotLiteral("'**' unpacking is not allowed in a call", keyword.value)
        if keyword.arg in arguments:
            raise _NotLiteral(f"argument {keyword.arg!r} is given twice", keyword)
        arguments[keyword.arg] = _literal(keyword.value)
    return ParsedCall(name=name, arguments=arguments, raw=raw, positional=tuple(positional))


def _dotted_name(node: ast.expr) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def _literal(node: ast.expr) -> Any:
    """The value of a literal node; anything that would need evaluating raises _NotLiteral."""
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, float) and not math.isfinite(value):
            raise _NotLiteral("a number out of range", node)
        if isinstance(value, int) and not -_INT_LIMIT < value < _INT_LIMIT:
            # Hexadecimal, octal and binary literals escape Python's own digit limit.
            raise _NotLiteral(_TOO_MANY_DIGITS, node)
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        kind = "'...'" if value is Ellipsis else f"{type(value).__name__} literals"
        raise _NotLiteral(f"argument values must be JSON-like literals; {kind} are not supported", node)
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub)
        and isinstance(node.operand, ast.Constant)
        and type(node.operand.value) in (int, float)
    ):
        return -_literal(node.operand)
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_literal(item) for item in node.elts]
    if isinstance(node, ast.Dict):
        result = {}
        for key_node, value_node in zip(node.keys, node.values):
            if key_node is None:
                raise _NotLiteral("'**' unpacking is not allowed in a dict", value_node)
            key = _literal(key_node)
            if isinstance(key, (list, dict)):
                raise _NotLiteral("dict keys must be strings or numbers", key_node)
            result[key] = _literal(value_node)
        return result
    raise _NotLiteral(f"argument values must be literals; found {_describe(node)}", node)


_HINTS = {"true": "True", "false": "False", "null": "None", "none": "None"}


def _describe(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        hint = _HINTS.get(node.id.lower()) if node.id not in ("True", "False", "None") else None
        return f"the name {node.id!r}" + (f" (write {hint})" if hint else "")
    kinds: list[tuple[type | tuple[type, ...], str]] = [
        (ast.Call, "a call"),
        (ast.Attribute, "attribute access"),
        (ast.Subscript, "a subscript"),
        ((ast.BinOp, ast.BoolOp, ast.Compare, ast.UnaryOp), "an operator (only minus on a number is allowed)"),
        ((ast.JoinedStr, ast.FormattedValue), "an f-string"),
        (ast.Lambda, "a lambda"),
        ((ast.Set, ast.SetComp), "a set"),
        ((ast.ListComp, ast.DictComp, ast.GeneratorExp), "a comprehension"),
        (ast.Starred, "'*' unpacking"),
    ]
    for kind, text in kinds:
        if isinstance(node, kind):
            return text
    return f"a {type(node).__name__} expression"


def _char_offset(source: str, lineno: int, col: int, *, in_bytes: bool) -> int:
    """Offset in source of a (line, column) position; ast columns count UTF-8 bytes."""
    starts = [0] + [match.end() for match in _NEWLINE_RE.finditer(source)]
    if not 1 <= lineno <= len(starts):
        return 0
    line_start = starts[lineno - 1]
    if not in_bytes:
        return line_start + col
    line = source[line_start : starts[lineno] if lineno < len(starts) else len(source)]
    return line_start + len(line.encode("utf-8", "surrogatepass")[:col].decode("utf-8", "ignore"))
