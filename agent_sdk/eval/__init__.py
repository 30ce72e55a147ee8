"""Evaluation beside the library: BFCL loading, conversion, running and scoring.

A front end like ``cli`` and ``server``: it imports the agent layer and below,
and nothing below imports it.
"""

from agent_sdk.eval.bfcl_data import CATEGORIES, BFCLQuestion, bfcl_to_json_schema, coerce_numbers, load_bfcl
from agent_sdk.eval.bfcl_run import BFCLAnswer, BFCLSummary, answer_question, run_bfcl
from agent_sdk.eval.bfcl_score import score_bfcl

__all__ = [
    "CATEGORIES", "BFCLAnswer", "BFCLQuestion", "BFCLSummary", "answer_question", "bfcl_to_json_schema",
    "coerce_numbers", "load_bfcl", "run_bfcl", "score_bfcl",
]
