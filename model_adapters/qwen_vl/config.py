"""``config.json`` of a Monkey or TextMonkey release, read into the fields the model needs.

Field names and defaults are those of the release's ``configuration_qwen.py`` (Qwen-7B values);
the ``visual`` block is the keyword arguments of its ``VisionTransformer``. TextMonkey's folder
is Monkey's with ``architectures`` ``TextMonkeyLMHeadModel`` and the visual options its training
script writes (``add_window``, ``use_global``, ``resampler``, ``r``, ``n_queries`` as the image's
token span, ``image_size`` as ``[height, width]``). Sizes that the released TextMonkey code
writes as literals (which layers carry shifted-window attention and their widths, the token
resampler's widths) are read from optional keys of the ``visual`` block that the release
ignores, defaulting to the release's literals: see ``VisualConfig``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: ``model_type`` values of the releases this implementation reproduces.
SUPPORTED_MODEL_TYPES = ("monkey",)
#: ``architectures`` of each variant's release.
ARCHITECTURES = {"monkey": "MonkeyLMHeadModel", "textmonkey": "TextMonkeyLMHeadModel"}
#: Visual options only TextMonkey's training writes.
TEXTMONKEY_OPTIONS = frozenset({"add_window", "use_global", "resampler"})


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
    #: Monkey: the resampler's queries per view. TextMonkey: the image's whole token span.
    n_queries: int = 256
    lora_repeat_num: int = 4
    # TextMonkey's options (defaults of its ``VisionTransformer``).
    add_window: bool = False
    use_global: bool = False
    resampler: bool = False
    #: Tokens the token resampler keeps of the windows' features.
    r: int = 512
    # Literals of the released TextMonkey code (``visual_text.py`` ``TransformerBlock``,
    # ``resampler.py`` ``PerceiverResampler``), overridable for toy-size folders.
    window_pos: tuple[int, ...] = (2, 6, 24, 46)
    window_dim: tuple[int, ...] = (128, 256, 512, 1024)
    window_head: tuple[int, ...] = (4, 8, 16, 32)
    resampler_in_dim: int = 1024
    resampler_heads: int = 8
    resampler_dim_head: int = 128

    @property
    def mlp_width(self) -> int:
        return int(self.width * self.mlp_ratio)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str) -> "VisualConfig":
        values = {k: v for k, v in raw.items() if k in cls.__dataclass_fields__}
        size = values.get("image_size")
        if isinstance(size, list):
            if len(size) != 2 or size[0] != size[1]:
                raise QwenVLConfigError(f"{source}: visual image_size {size} is not square; only square inputs are implemented")
            values["image_size"] = size[0]
        for name in ("window_pos", "window_dim", "window_head"):
            if name in values:
                values[name] = tuple(values[name])
        config = cls(**values)
        if not len(config.window_pos) == len(config.window_dim) == len(config.window_head):
            raise QwenVLConfigError(f"{source}: visual window_pos, window_dim and window_head differ in length")
        return config


@dataclass(frozen=True)
class QwenVLConfig:
    visual: VisualConfig
    model_type: str = "monkey"
    #: ``monkey`` or ``textmonkey``: which release the folder is.
    variant: str = "monkey"
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
        if "visual" not in raw or "image_start_id" not in raw["visual"]:
            raise QwenVLConfigError(f"{source}: no 'visual' block with 'image_start_id'; not a Qwen-VL release config")
        variant = _variant(raw, source)
        visual = VisualConfig.from_dict(raw["visual"], source)
        windows = (visual.image_size // 448) ** 2
        if variant == "textmonkey" and 1 < visual.lora_repeat_num < windows:
            raise QwenVLConfigError(f"{source}: lora_repeat_num {visual.lora_repeat_num} is neither 0, 1 nor one per 448-pixel window ({windows})")
        if variant == "textmonkey":
            span = (visual.r if visual.resampler else windows * 256) + (256 if visual.use_global else 0)
            if visual.n_queries != span:
                raise QwenVLConfigError(f"{source}: TextMonkey's visual n_queries {visual.n_queries} is not the span its encoder makes "
                                        f"({span}: r or 256 per window, plus 256 for the global view); the release would fail too")
        fields = set(cls.__dataclass_fields__) - {"visual", "variant"}
        values = {k: v for k, v in raw.items() if k in fields}
        config = cls(visual=visual, variant=variant, **values)
        if config.kv_channels * config.num_attention_heads != config.hidden_size:
            raise QwenVLConfigError(f"{source}: kv_channels x num_attention_heads must equal hidden_size")
        if visual.output_dim != config.hidden_size:
            raise QwenVLConfigError(f"{source}: visual output_dim {visual.output_dim} differs from hidden_size {config.hidden_size}")
        return config

    @classmethod
    def from_folder(cls, folder: Path) -> "QwenVLConfig":
        path = folder / "config.json"
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")), str(path))


def _variant(raw: dict[str, Any], source: str) -> str:
    architectures = raw.get("architectures")
    options = sorted(TEXTMONKEY_OPTIONS & set(raw["visual"]))
    if architectures is None:
        return "textmonkey" if options else "monkey"
    for variant, architecture in ARCHITECTURES.items():
        if architectures == [architecture] and (variant == "textmonkey" or not options):
            return variant
    found = f"architectures {architectures}" + (f" with TextMonkey's visual options {options}" if options else "")
    raise QwenVLConfigError(f"{source}: {found} is neither Monkey ({ARCHITECTURES['monkey']}) nor TextMonkey "
                            f"({ARCHITECTURES['textmonkey']} with {', '.join(sorted(TEXTMONKEY_OPTIONS))})")
