"""Weights of the base models the release starts from: Vicuna-13B v1.3, CLIP ViT-L/14, SD2-base.

The release builds its model from these local folders and then overrides them with its own
checkpoint. Here they only fill keys the TextHarmony checkpoint lacks, mapped to its layout the
way the release initialises them: the vocabulary grows by the two image tokens (zero rows), the
text head's new logits start at -100, CLIP's position table is resized to the 896-px grid.
"""

from __future__ import annotations

import re
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from model_adapters.common.weight_index import index_shards

from .checkpoint_io import TensorRecord, file_records
from .config import TextHarmonyConfig
from .keys import DIFFUSION_PREFIX, LLM_PREFIX, PEFT_VIT_PREFIX, TEXT_HEAD_PREFIX
from .weight_files import INDEX_FILES

WEIGHT_FILES = (
    *INDEX_FILES,
    "model.safetensors",
    "pytorch_model.bin",
    "diffusion_pytorch_model.safetensors",
    "diffusion_pytorch_model.bin",
)

_VAE_RENAMES = {"query": "to_q", "key": "to_k", "value": "to_v", "proj_attn": "to_out.0"}


def _weight_files(folder: Path, what: str) -> list[Path]:
    if not folder.is_dir():
        raise FileNotFoundError(f"{what} folder {folder} does not exist")
    for name in WEIGHT_FILES:
        candidate = folder / name
        if candidate.is_file():
            return index_shards(candidate) if name in INDEX_FILES else [candidate]
    raise FileNotFoundError(f"{what}: {folder} contains none of the weight files {', '.join(WEIGHT_FILES)}")


def _constant(name: str, tensor_fn: Callable[[], torch.Tensor], shape: tuple[int, ...]) -> TensorRecord:
    return TensorRecord(name, torch.float32, shape, tensor_fn)


def _mapped(record: TensorRecord, name: str, shape=None, transform=None) -> TensorRecord:
    read = record.read if transform is None else (lambda: transform(record.read()))
    return TensorRecord(name, record.dtype, tuple(shape or record.shape), read)


@dataclass(frozen=True)
class BaseComponents:
    vicuna: Path | None = None
    clip: Path | None = None
    sd2: Path | None = None

    def open(self, config: TextHarmonyConfig, files: ExitStack) -> dict[str, TensorRecord]:
        """Model key -> record, for every key the given folders provide."""
        out: dict[str, TensorRecord] = {}
        if self.vicuna is not None:
            out.update(self._vicuna(config, self._records(Path(self.vicuna), "Vicuna", files)))
        if self.clip is not None:
            out.update(self._clip(config, self._records(Path(self.clip), "CLIP", files)))
        if self.sd2 is not None:
            root = Path(self.sd2)
            for part in ("unet", "vae"):
                records = self._records(root / part, f"SD2-base {part}", files)
                for name, record in records.items():
                    if part == "vae":
                        name = re.sub(r"attentions\.(\d+)\.(query|key|value|proj_attn)\.",
                                      lambda m: f"attentions.{m[1]}.{_VAE_RENAMES[m[2]]}.", name)
                    key = f"{DIFFUSION_PREFIX}{part}.{name}"
                    out[key] = _mapped(record, key)
        return out

    @staticmethod
    def _records(folder: Path, what: str, files: ExitStack) -> dict[str, TensorRecord]:
        records = {}
        for path in _weight_files(folder, what):
            handle = files.enter_context(open(path, "rb"))
            records.update({r.name: r for r in file_records(handle, str(path))})
        return records

    @staticmethod
    def _vicuna(config: TextHarmonyConfig, records: dict[str, TensorRecord]) -> dict[str, TensorRecord]:
        llm = config.llm
        grow = llm.vocab_size - llm.base_vocab_size

        def pad_rows(t: torch.Tensor) -> torch.Tensor:
            return torch.cat((t, t.new_zeros(grow, t.shape[1])))

        out = {}
        for name, record in records.items():
            if name.startswith("model.") and "rotary_emb" not in name:
                key = LLM_PREFIX + name[len("model.") :]
                if key == LLM_PREFIX + "embed_tokens.weight":
                    out[key] = _mapped(record, key, (llm.vocab_size, llm.hidden_size), pad_rows)
                else:
                    out[key] = _mapped(record, key)
        head = TEXT_HEAD_PREFIX + "head."
        if "lm_head.weight" in records:
            shape = (llm.vocab_size, llm.hidden_size)
            out[head + "weight"] = _mapped(records["lm_head.weight"], head + "weight", shape, pad_rows)

        def head_bias() -> torch.Tensor:
            bias = torch.zeros(llm.vocab_size)
            bias[llm.base_vocab_size :] = -100.0
            return bias

        new_rows = TEXT_HEAD_PREFIX + "head_new."
        out[head + "bias"] = _constant(head + "bias", head_bias, (llm.vocab_size,))
        out[new_rows + "weight"] = _constant(
            new_rows + "weight", lambda: torch.zeros(grow, llm.hidden_size), (grow, llm.hidden_size)
        )
        out[new_rows + "bias"] = _constant(new_rows + "bias", lambda: torch.full((grow,), 95.0), (grow,))
        return out

    @staticmethod
    def _clip(config: TextHarmonyConfig, records: dict[str, TensorRecord]) -> dict[str, TensorRecord]:
        vision = config.vision
        positions = vision.grid**2 + 1
        prefix = PEFT_VIT_PREFIX + "vision_model."
        wanted = ("vision_model.embeddings.", "vision_model.pre_layrnorm.", "vision_model.encoder.layers.")

        def resize(table: torch.Tensor) -> torch.Tensor:
            side = int(round((table.shape[0] - 1) ** 0.5))
            grid = table[1:].float().reshape(1, side, side, -1).permute(0, 3, 1, 2)
            grid = F.interpolate(grid, size=(vision.grid, vision.grid), mode="bicubic", align_corners=True)
            return torch.cat((table[:1].float(), grid.permute(0, 2, 3, 1).reshape(vision.grid**2, -1))).to(table.dtype)

        out = {}
        for name, record in records.items():
            if not name.startswith(wanted) or name.endswith("position_ids"):
                continue
            key = prefix + name[len("vision_model.") :]
            if name.endswith("position_embedding.weight"):
                out[key] = _mapped(record, key, (positions, vision.hidden_size), resize)
            else:
                out[key] = _mapped(record, key)
        ids = prefix + "embeddings.position_ids"
        out[ids] = TensorRecord(ids, torch.int64, (1, positions), lambda: torch.arange(positions)[None])
        return out
