"""Schema-constrained decoding: grammars from JSON schemas and tool sets (llguidance)."""

from agent_sdk.constrain.grammar import Constraint, GrammarEngine, GrammarError

__all__ = ["Constraint", "GrammarEngine", "GrammarError"]
