"""Monkey and TextMonkey: the Qwen decoder, the vision encoder of the folder's variant
(``visual`` or ``text_visual``) and the LM head, loaded from a release folder.

A prompt's image occupies ``<img>`` + ``image_token_span`` positions + ``</img>``; the release
writes the image's file path (as bytes) into those positions and overwrites their embeddings
with the image features, so the ids there never matter and here are ``<imgpad>``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterator

import torch
from PIL import Image
from torch import nn

from model_adapters.qwen_vl.config import QwenVLConfig
from model_adapters.qwen_vl.llm import QwenDecoder
from model_adapters.qwen_vl.text_visual import TextMonkeyVisionTransformer
from model_adapters.qwen_vl.visual import VisionTransformer, sincos_positions

WEIGHT_FILES = ("model.safetensors.index.json", "model.safetensors", "pytorch_model.bin.index.json", "pytorch_model.bin")
#: Keys of older checkpoints for buffers that are computed, not learnt.
_COMPUTED_KEYS = re.compile(r".*\.attn\.(rotary_emb\.inv_freq|masked_bias|bias)$")
_RESAMPLER_POSITIONS = "transformer.visual.attn_pool.pos_embed"


class CheckpointError(ValueError):
    pass


class QwenVLTransformer(QwenDecoder):
    """The release's ``transformer``: the decoder plus its ``visual`` encoder."""

    def __init__(self, config: QwenVLConfig) -> None:
        super().__init__(config)
        encoder = TextMonkeyVisionTransformer if config.variant == "textmonkey" else VisionTransformer
        self.visual = encoder(config.visual)


class MonkeyModel(nn.Module):
    def __init__(self, config: QwenVLConfig) -> None:
        super().__init__()
        self.config = config
        self.transformer = QwenVLTransformer(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)

    @property
    def windows(self) -> int:
        return int(self.transformer.visual.windows)

    @property
    def image_token_span(self) -> int:
        return int(self.transformer.visual.token_span)

    def image_features(self, images: list[Image.Image]) -> torch.Tensor:
        """(images, image_token_span, hidden)."""
        return self.transformer.visual.encode(images)

    @classmethod
    def from_folder(cls, folder: Path, dtype: torch.dtype, device: torch.device) -> "MonkeyModel":
        config = QwenVLConfig.from_folder(folder)
        with torch.device("meta"):
            model = cls(config)
        expected = model.state_dict()
        found = set()
        for name, tensor in read_checkpoint(folder):
            if name not in expected:
                if _COMPUTED_KEYS.match(name):
                    continue
                raise CheckpointError(f"{folder}: tensor {name!r} has no place in a {config.model_type} model; is this the right folder?")
            if tuple(tensor.shape) != tuple(expected[name].shape):
                raise CheckpointError(
                    f"{folder}: {name} has shape {tuple(tensor.shape)}, config.json implies {tuple(expected[name].shape)}"
                )
            _assign(model, name, tensor.to(device=device, dtype=dtype))
            found.add(name)
        missing = set(expected) - found
        if _RESAMPLER_POSITIONS in missing:
            queries = model.transformer.visual.attn_pool.query.shape[0]
            side = int(queries ** 0.5)
            _assign(model, _RESAMPLER_POSITIONS, sincos_positions(config.visual.output_dim, side).to(device=device, dtype=dtype))
            missing.discard(_RESAMPLER_POSITIONS)
        if missing:
            listed = ", ".join(sorted(missing)[:5])
            raise CheckpointError(f"{folder}: the weights lack {len(missing)} tensors ({listed}{', ...' if len(missing) > 5 else ''})")
        return model.eval()


def _assign(model: nn.Module, name: str, tensor: torch.Tensor) -> None:
    owner_name, _, attribute = name.rpartition(".")
    owner = model.get_submodule(owner_name)
    old = getattr(owner, attribute)
    setattr(owner, attribute, nn.Parameter(tensor, requires_grad=False) if isinstance(old, nn.Parameter) else tensor)


def read_checkpoint(folder: Path) -> Iterator[tuple[str, torch.Tensor]]:
    """Every tensor of the folder's weights: safetensors or PyTorch files, sharded (with the
    index ``save_pretrained`` writes) or whole, read one file at a time."""
    for name in WEIGHT_FILES:
        path = folder / name
        if path.is_file():
            break
    else:
        raise FileNotFoundError(f"{folder} holds none of {', '.join(WEIGHT_FILES)}; point model= at the released folder")
    if name.endswith(".index.json"):
        shards = sorted(set(json.loads(path.read_text(encoding="utf-8"))["weight_map"].values()))
        files = [folder / shard for shard in shards]
    else:
        files = [path]
    for file in files:
        if not file.is_file():
            raise FileNotFoundError(f"{file} is listed in {path.name} but missing")
        yield from _read_file(file)


def _read_file(path: Path) -> Iterator[tuple[str, torch.Tensor]]:
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            for key in handle.keys():
                yield key, handle.get_tensor(key)
    else:
        yield from torch.load(path, map_location="cpu", weights_only=True, mmap=True).items()
