"""Tools the model can call: ``@tool``, :class:`Tool`, :class:`ToolRegistry`.

``@tool`` turns a typed, documented function into a tool with a compact JSON
schema (see :mod:`agent_sdk.tools.schema` for its exact shape); a
:class:`ToolRegistry` holds tools by unique name and executes a model's calls,
turning every failure into a :class:`ToolResult` the model can read.

This package needs pydantic (and jsonschema for tools imported from the
OpenAI format), never TVM.
"""

from __future__ import annotations

from agent_sdk.tools.decorator import Tool, tool
from agent_sdk.tools.loading import load_tools
from agent_sdk.tools.registry import ToolRegistry, ToolResult

__all__ = ["Tool", "ToolRegistry", "ToolResult", "load_tools", "tool"]
