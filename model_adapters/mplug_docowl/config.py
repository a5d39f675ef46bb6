"""``config.json`` of a DocOwl 1.5 release (``model_type`` ``mplug_docowl``), read into the
fields the model needs.

Field names and defaults are those of the release's ``configuration_mplug_docowl.py``: a
LLaMA config plus ``visual_config`` with a ``visual_model`` block (the ViT) and a
``visual_hreducer`` block (the H-Reducer).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODEL_TYPE = "mplug_docowl"


class DocOwlConfigError(ValueError):
    pass


@dataclass(frozen=True)
class VisionConfig:
    hidden_size: int = 1024
    intermediate_size: int = 4096
    num_hidden_layers: int = 24
    num_attention_heads: int = 16
    image_size: int = 448
    patch_size: int = 14
    layer_norm_eps: float = 1e-6

    @property
    def grid(self) -> int:
        return self.image_size // self.patch_size


@dataclass(frozen=True)
class HReducerConfig:
    hidden_size: int = 1024
    conv_shape: str = "1x4"

    @property
    def kernel(self) -> tuple[int, int]:
        rows, cols = (int(part) for part in self.conv_shape.split("x"))
        return rows, cols


@dataclass(frozen=True)
class DocOwlConfig:
    vision: VisionConfig
    reducer: HReducerConfig
    vocab_size: int = 32000
    hidden_size: int = 4096
    intermediate_size: int = 11008
    num_hidden_layers: int = 32
    num_attention_heads: int = 32
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0
    attention_bias: bool = False

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @property
    def image_tokens(self) -> int:
        """Positions one crop takes in the prompt: the reduced patch grid and ``vit_eos``."""
        rows, cols = self.reducer.kernel
        grid = self.vision.grid
        return (grid // rows) * (grid // cols) + 1

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "config.json") -> "DocOwlConfig":
        if raw.get("model_type") != MODEL_TYPE:
            raise DocOwlConfigError(f"{source}: model_type {raw.get('model_type')!r} is not {MODEL_TYPE!r}; not a DocOwl 1.5 release")
        visual = raw.get("visual_config") or {}
        if "visual_model" not in visual or "visual_hreducer" not in visual:
            raise DocOwlConfigError(f"{source}: no visual_config with 'visual_model' and 'visual_hreducer' blocks")
        if visual["visual_model"].get("hidden_act", "quick_gelu") != "quick_gelu":
            raise DocOwlConfigError(f"{source}: the DocOwl ViT uses quick_gelu, the config names {visual['visual_model']['hidden_act']!r}")
        vision = VisionConfig(**_known(VisionConfig, visual["visual_model"]))
        reducer = HReducerConfig(**_known(HReducerConfig, visual["visual_hreducer"]))
        if reducer.hidden_size != vision.hidden_size:
            raise DocOwlConfigError(f"{source}: H-Reducer width {reducer.hidden_size} differs from the ViT's {vision.hidden_size}")
        config = cls(vision=vision, reducer=reducer, **_known(cls, raw, exclude={"vision", "reducer"}))
        if config.head_dim * config.num_attention_heads != config.hidden_size:
            raise DocOwlConfigError(f"{source}: hidden_size must be a multiple of num_attention_heads")
        # DocOwl 1.5 is LLaMA-2 7B: one key/value head per query head, plain RoPE.
        unsupported = {
            "num_key_value_heads": raw.get("num_key_value_heads") not in (None, config.num_attention_heads),
            "rope_scaling": bool(raw.get("rope_scaling")),
            "pretraining_tp": raw.get("pretraining_tp", 1) != 1,
        }
        for key, found in unsupported.items():
            if found:
                raise DocOwlConfigError(f"{source}: {key}={raw[key]!r} is not supported by this implementation of DocOwl 1.5")
        return config

    @classmethod
    def from_folder(cls, folder: Path) -> "DocOwlConfig":
        path = folder / "config.json"
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")), str(path))


def _known(kind: type, raw: dict[str, Any], exclude: frozenset[str] | set[str] = frozenset()) -> dict[str, Any]:
    fields = set(kind.__dataclass_fields__) - set(exclude)
    return {key: value for key, value in raw.items() if key in fields}

