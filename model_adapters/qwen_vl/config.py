"""``config.json`` of a Monkey release, read into the fields the model needs.

Field names and defaults are those of the release's ``configuration_qwen.py`` (Qwen-7B values);
the ``visual`` block is the keyword arguments of its ``VisionTransformer``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: ``model_type`` values of the releases this implementation reproduces.
SUPPORTED_MODEL_TYPES = ("monkey",)


class QwenVLConfigError(ValueError):
    pass


@dataclass(frozen=True)
class VisualConfig:
    image_start_id: int
    width: int = 1664
    layers: int = 48
    heads: int = 16
    mlp_ratio: float = 4.9231
    output_dim: int = 4096
    image_size: int = 896
    patch_size: int = 14
    n_queries: int = 256
    lora_repeat_num: int = 4

    @property
    def mlp_width(self) -> int:
        return int(self.width * self.mlp_ratio)


@dataclass(frozen=True)
class QwenVLConfig:
    visual: VisualConfig
    model_type: str = "monkey"
    vocab_size: int = 151936
    hidden_size: int = 4096
    num_hidden_layers: int = 32
    num_attention_heads: int = 32
    kv_channels: int = 128
    intermediate_size: int = 22016
    layer_norm_epsilon: float = 1e-6
    seq_length: int = 2048
    rotary_emb_base: float = 10000.0
    rotary_pct: float = 1.0
    use_dynamic_ntk: bool = True
    use_logn_attn: bool = True
    no_bias: bool = True
    #: The dtype the release runs in (``bf16``/``fp16``/``fp32`` flags), used on accelerators.
    release_dtype: str = "bfloat16"

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @property
    def rotary_dim(self) -> int:
        return self.kv_channels if self.rotary_pct == 1.0 else int(self.kv_channels * self.rotary_pct)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "config.json") -> "QwenVLConfig":
        model_type = raw.get("model_type")
        if model_type not in SUPPORTED_MODEL_TYPES:
            raise QwenVLConfigError(
                f"{source}: model_type {model_type!r} is not a Qwen-VL release this adapter reads "
                f"(expected one of {', '.join(SUPPORTED_MODEL_TYPES)})"
            )
        architectures = raw.get("architectures") or ["MonkeyLMHeadModel"]
        textmonkey = {"add_window", "use_global", "resampler"} & set(raw.get("visual", {}))
        if architectures != ["MonkeyLMHeadModel"] or textmonkey:
            found = f"architectures {architectures}" + (f", visual options {sorted(textmonkey)}" if textmonkey else "")
            raise QwenVLConfigError(
                f"{source}: {found} are not Monkey's; TextMonkey (shifted-window attention, token resampling) "
                "is a different vision encoder that this implementation does not reproduce"
            )
        if "visual" not in raw or "image_start_id" not in raw["visual"]:
            raise QwenVLConfigError(f"{source}: no 'visual' block with 'image_start_id'; not a Qwen-VL release config")
        visual_fields = set(VisualConfig.__dataclass_fields__)
        visual = VisualConfig(**{k: v for k, v in raw["visual"].items() if k in visual_fields})
        fields = set(cls.__dataclass_fields__) - {"visual", "release_dtype"}
        values = {k: v for k, v in raw.items() if k in fields}
        config = cls(visual=visual, release_dtype=_release_dtype(raw), **values)
        if config.kv_channels * config.num_attention_heads != config.hidden_size:
            raise QwenVLConfigError(f"{source}: kv_channels x num_attention_heads must equal hidden_size")
        if visual.output_dim != config.hidden_size:
            raise QwenVLConfigError(f"{source}: visual output_dim {visual.output_dim} differs from hidden_size {config.hidden_size}")
        return config

    @classmethod
    def from_folder(cls, folder: Path) -> "QwenVLConfig":
        path = folder / "config.json"
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")), str(path))


def _release_dtype(raw: dict[str, Any]) -> str:
    if raw.get("fp32"):
        return "float32"
    if raw.get("fp16"):
        return "float16"
    return "bfloat16"
