"""Loading the ``@tool`` functions of a module or a Python file into a registry."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

from agent_sdk.errors import AgentSDKError, ToolDefinitionError
from agent_sdk.tools.decorator import Tool
from agent_sdk.tools.registry import ToolRegistry

__all__ = ["load_tools"]


def load_tools(spec: str) -> ToolRegistry:
    """Imports a module or a ``.py`` file and registers every tool defined at its top level.

    Every :class:`~agent_sdk.tools.Tool` bound to a module-level name is
    collected, in definition order, including tools the module imported (a tool
    bound to two names counts once). A file is imported by its location under a
    private module name; its folder is not added to ``sys.path``.

    Args:
        spec: A dotted module path (``my_package.tools``) or the path of a
            Python file (``./home_tools.py``).

    Returns:
        A registry of the tools found.

    Raises:
        ToolDefinitionError: The module or file cannot be imported (it raises,
            or exits with ``sys.exit``, while being imported), a tool in it is
            invalid, two tools share a name, or there are no tools.
        KeyboardInterrupt: The user stopped the import.
    """
    module = _import_file(spec) if _looks_like_path(spec) else _import_module(spec)
    tools: list[Tool[..., object]] = []
    for value in vars(module).values():
        if isinstance(value, Tool) and all(value is not t for t in tools):
            tools.append(value)
    if not tools:
        problem = f"{spec!r} defines no tools: decorate its functions with @tool at module level"
        raise ToolDefinitionError(problem, problems=(problem,))
    return ToolRegistry(tools)


def _looks_like_path(spec: str) -> bool:
    return spec.endswith(".py") or "/" in spec or "\\" in spec


def _import_module(spec: str) -> ModuleType:
    if not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", spec):
        problem = f"{spec!r} is neither a module path (package.module) nor a .py file"
        raise ToolDefinitionError(problem, problems=(problem,))
    try:
        return importlib.import_module(spec)
    except BaseException as exc:
        if _passes_through(exc):
            raise
        raise _import_error(spec, exc) from exc


def _import_file(spec: str) -> ModuleType:
    path = Path(spec).expanduser().resolve()
    if not path.is_file() or path.suffix != ".py":
        problem = f"{spec}: no such Python file"
        raise ToolDefinitionError(problem, problems=(problem,))
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:12]
    stem = re.sub(r"\W", "_", path.stem)
    name = f"_agent_sdk_tools_{stem}_{digest}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        problem = f"{spec}: cannot be imported as a Python module"
        raise ToolDefinitionError(problem, problems=(problem,))
    module = importlib.util.module_from_spec(module_spec)
    # Registered while it runs, as an import would be: pydantic and dataclasses
    # resolve the module's annotations through sys.modules.
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except BaseException as exc:
        sys.modules.pop(name, None)
        if _passes_through(exc):
            raise
        raise _import_error(spec, exc) from exc
    return module


def _passes_through(exc: BaseException) -> bool:
    """Whether an exception raised by an import is raised on unchanged.

    Only the user's Ctrl-C and our own errors (a ``ToolDefinitionError`` from a
    ``@tool`` in the module already says everything) are. Anything else,
    ``SystemExit`` included, becomes an error naming the module: a tools file
    that runs a script's ``main()`` at import would otherwise end the program
    with an exit code and no word about which file did it.
    """
    return isinstance(exc, (KeyboardInterrupt, AgentSDKError))


def _import_error(spec: str, exc: BaseException) -> ToolDefinitionError:
    if isinstance(exc, SystemExit):
        code = "" if exc.code is None else repr(exc.code)
        problem = (
            f"cannot import {spec!r}: it exits while being imported (sys.exit({code})); code meant to"
            ' run as a script belongs under `if __name__ == "__main__":`'
        )
    else:
        problem = f"cannot import {spec!r}: {type(exc).__name__}: {exc}"
    return ToolDefinitionError(problem, problems=(problem,))
