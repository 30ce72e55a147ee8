"""Specialize a model to an app's tools: generated examples, LoRA training on the CPU, a tuned bundle.

``agent-sdk tune --tools FILE_OR_MODULE --out DIR`` generates training
requests from the tools' schemas and docstrings (:mod:`.examples`), renders
them exactly as the agent prompts at run time (:mod:`.render`), trains a
low-rank adapter on the attention and MLP projections with PyTorch on the CPU
(:mod:`.torch_model`, :mod:`.train`) and compiles the base weights plus the
merged update into a normal verified bundle (:mod:`.bundle`). Training needs
the optional extra ``agent-sdk[tune]``; running a tuned bundle does not.
"""
