"""Run compiled bundles. Imports the TVM runtime only, never the compiler."""

from agent_sdk.runtime.engine import Engine, Generation, GenerationStats, GenerationStream, TokenEvent
from agent_sdk.runtime.sampler import SamplingParams
from agent_sdk.runtime.tokenizer import Tokenizer

__all__ = ["Engine", "Generation", "GenerationStats", "GenerationStream", "TokenEvent", "SamplingParams", "Tokenizer"]
