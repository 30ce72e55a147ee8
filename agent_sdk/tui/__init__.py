"""The interactive front end (``agent-sdk chat``): shows the agent's events, owns no logic.

``rich`` is imported only when a terminal view is made, so this package
imports (and its plain-text mode works) without it.
"""

from agent_sdk.tui.chat import ChatSession, run_chat
from agent_sdk.tui.views import PlainView, RichView

__all__ = ["ChatSession", "PlainView", "RichView", "run_chat"]
