"""Running a tool's function: plain or coroutine, within a timeout, off the caller's thread when needed.

Python cannot stop a thread, so a plain function that outlives its timeout is
abandoned: it runs on in a daemon thread of its own, and the caller gets a
:class:`~agent_sdk.errors.ToolError`. A coroutine is cancelled at its timeout.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import inspect
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from agent_sdk.errors import ToolError

__all__ = ["call_async", "call_sync", "is_async_callable", "run_coroutine", "run_in_thread"]

T = TypeVar("T")


def is_async_callable(function: Callable[..., Any]) -> bool:
    """Whether calling ``function`` gives a coroutine: a coroutine function, or an object whose ``__call__`` is one."""
    call = inspect.getattr_static(type(function), "__call__", None)
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(call)


async def call_async(
    function: Callable[..., Any],
    args: list[Any],
    kwargs: dict[str, Any],
    *,
    is_async: bool,
    timeout: float | None,
    name: str,
) -> Any:
    """Calls ``function`` from async code, within ``timeout``.

    A coroutine function is awaited (and cancelled at the timeout). A plain
    function runs in this thread when there is no timeout, and otherwise in a
    daemon worker thread, abandoned at the timeout. An awaitable result is
    awaited within the timeout too.

    Args:
        function: What to call.
        args: Positional arguments.
        kwargs: Keyword arguments.
        is_async: Whether ``function`` is a coroutine function (see :func:`is_async_callable`).
        timeout: Seconds the call may take, or None for no limit.
        name: The tool's name, for the timeout error and the worker thread.

    Returns:
        What the function returned (awaited if awaitable).

    Raises:
        ToolError: The call timed out.
        Exception: Whatever the function raised, unchanged.
    """
    if is_async:
        coroutine: Any = function(*args, **kwargs)
        return await _bounded(coroutine, timeout, name)
    result: Any
    if timeout is None:
        result = function(*args, **kwargs)
    else:
        result = await _bounded(asyncio.wrap_future(run_in_thread(function, args, kwargs, name)), timeout, name)
    if inspect.isawaitable(result):
        result = await _bounded(result, timeout, name)
    return result


def call_sync(
    function: Callable[..., Any], args: list[Any], kwargs: dict[str, Any], *, timeout: float | None, name: str
) -> Any:
    """Calls a plain (not coroutine) function without an event loop, within ``timeout``.

    As :func:`call_async` for a plain function; an awaitable result is run on a
    fresh event loop (see :func:`run_coroutine`).
    """
    result: Any
    if timeout is None:
        result = function(*args, **kwargs)
    else:
        future = run_in_thread(function, args, kwargs, name)
        done, _ = concurrent.futures.wait([future], timeout=timeout)
        if not done:
            raise _timed_out(name, timeout)
        result = future.result()
    if inspect.isawaitable(result):
        result = run_coroutine(_bounded(result, timeout, name), name)
    return result


def run_coroutine(coroutine: Coroutine[Any, Any, T], name: str) -> T:
    """Runs a coroutine to its end on a fresh event loop, in a helper thread if this one already runs a loop.

    Args:
        coroutine: The coroutine.
        name: The tool's name, for the helper thread.

    Returns:
        The coroutine's result.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    # This thread already runs a loop (run() called from async code): use another thread.
    future: concurrent.futures.Future[T] = run_in_thread(asyncio.run, [coroutine], {}, name)
    return future.result()


def run_in_thread(
    function: Callable[..., T], args: list[Any], kwargs: dict[str, Any], name: str
) -> concurrent.futures.Future[T]:
    """Starts ``function`` in a daemon thread of its own, in a copy of the caller's context.

    A thread of its own rather than an executor: a call abandoned at its timeout
    must neither block interpreter exit nor ``asyncio.run``'s executor shutdown.

    Args:
        function: What to call.
        args: Positional arguments.
        kwargs: Keyword arguments.
        name: The tool's name, for the thread's name.

    Returns:
        A future with the function's result or exception.
    """
    future: concurrent.futures.Future[T] = concurrent.futures.Future()
    context = contextvars.copy_context()

    def work() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            result = context.run(function, *args, **kwargs)
        except BaseException as exc:  # noqa: BLE001  (handed to the caller, as concurrent.futures does)
            future.set_exception(exc)
        else:
            future.set_result(result)

    threading.Thread(target=work, name=f"agent_sdk-tool-{name}", daemon=True).start()
    return future


async def _bounded(awaitable: Awaitable[T], timeout: float | None, name: str) -> T:
    if timeout is None:
        return await awaitable
    # asyncio.wait, not wait_for: a TimeoutError raised by the tool itself
    # must stay the tool's error, not become ours.
    future = asyncio.ensure_future(awaitable)
    try:
        done, _ = await asyncio.wait({future}, timeout=timeout)
    except asyncio.CancelledError:
        future.cancel()
        raise
    if not done:
        future.cancel()
        raise _timed_out(name, timeout)
    return future.result()


def _timed_out(name: str, timeout: float) -> ToolError:
    return ToolError(f"tool {name!r} timed out after {timeout:g} s")
