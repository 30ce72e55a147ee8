"""Weight quantization shared by every architecture.

:mod:`.formats` (numpy only) quantizes, dequantizes and repacks GGUF blocks;
:mod:`.nn_modules` (needs the TVM compiler) computes with those layouts.
"""

from agent_sdk.quantization.formats import FORMATS, GROUP, QuantConfig, dequantize, quantize

__all__ = ["FORMATS", "GROUP", "QuantConfig", "dequantize", "quantize"]
