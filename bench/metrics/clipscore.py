"""CLIPScore: agreement between a generated image and its prompt, from a local CLIP checkpoint.

Each pair scores ``w * max(cos(E_image, E_text), 0)`` with the embeddings of ``CLIPModel``'s
projection heads; a set scores the mean over its pairs. The weight ``w`` is only a scale, but
published numbers use different ones, so it is a parameter and part of ``describe()``:
torchmetrics' ``CLIPScore`` reports ``w = 100``, the CLIPScore paper (Hessel et al., 2021) uses
``w = 2.5`` and MARIO-Eval (TextDiffuser) ``w = 1``.

Pixels and captions go through ``CLIPProcessor`` and the model exactly as torchmetrics 1.9's
``CLIPScore`` sends them, with these deliberate differences:

- each pair is clamped at zero, as in the paper and MARIO-Eval; torchmetrics clamps the mean. The
  two agree whenever no pair has a negative cosine, which is the usual case for a trained CLIP;
- a caption longer than the text encoder's context is cut by the tokenizer, which keeps the
  end-of-text token that CLIP pools on (as ``clip.tokenize(truncate=True)`` does); torchmetrics
  slices the token ids afterwards and so pools on another token;
- the image processor is always the PIL one, so a score does not change with whether torchvision
  happens to be installed (transformers 5 would otherwise switch resampling backends);
- transformers 5's ``get_image_features``/``get_text_features`` return output objects, which
  torchmetrics 1.9 cannot use; the projected embedding is their ``pooler_output``.

Models are read from a local folder only (``local_files_only=True``): no hub access at run time.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import transformers
from PIL import Image
from torch import Tensor
from torchmetrics import Metric
from transformers import AutoTokenizer, CLIPModel, CLIPProcessor

CLIP_WEIGHT_TORCHMETRICS = 100.0
CLIP_WEIGHT_PAPER = 2.5
CLIP_WEIGHT_MARIO = 1.0

_WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
_EXPECTED = (
    "config.json, model weights (model.safetensors or pytorch_model.bin), tokenizer files "
    "(tokenizer.json, or vocab.json with merges.txt) and preprocessor_config.json"
)

Images = Tensor | Sequence[Tensor | Image.Image]


class ClipModelMissing(FileNotFoundError):
    """The CLIP folder is absent or incomplete; the message names the folder and what it lacks."""

    def __init__(self, folder: Path, missing: Sequence[str]) -> None:
        super().__init__(
            f"CLIP model folder {folder} is not usable: missing {'; '.join(missing)}. Expected {_EXPECTED}."
        )
        self.folder = folder
        self.missing = tuple(missing)


def check_clip_folder(folder: str | Path) -> Path:
    """The folder as a path once it holds everything ``load_clip`` reads; else ``ClipModelMissing``."""
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise ClipModelMissing(path, ["the folder itself"])
    missing = []
    if not (path / "config.json").is_file():
        missing.append("config.json")
    if not any((path / name).is_file() for name in _WEIGHT_FILES):
        missing.append(f"model weights ({' or '.join(_WEIGHT_FILES)})")
    has_vocab = (path / "vocab.json").is_file() and (path / "merges.txt").is_file()
    if not ((path / "tokenizer.json").is_file() or has_vocab):
        missing.append("tokenizer files (tokenizer.json, or vocab.json and merges.txt)")
    if not (path / "preprocessor_config.json").is_file():
        missing.append("preprocessor_config.json")
    if missing:
        raise ClipModelMissing(path, missing)
    return path


def load_clip(folder: str | Path) -> tuple[CLIPModel, CLIPProcessor]:
    """``CLIPModel`` and a ``CLIPProcessor`` with the PIL image backend, from a local folder.

    The model runs in float32 whatever dtype the checkpoint was stored in (transformers 5 would keep
    a half-precision file in half precision), so scores do not depend on how the file was saved.
    """
    path = check_clip_folder(folder)
    # transformers 5 names the PIL backend CLIPImageProcessorPil; in 4.x CLIPImageProcessor is that backend.
    image_processor_cls: Any
    if hasattr(transformers, "CLIPImageProcessorPil"):
        image_processor_cls = transformers.CLIPImageProcessorPil
    else:
        image_processor_cls = transformers.CLIPImageProcessor
    processor = CLIPProcessor(
        image_processor=image_processor_cls.from_pretrained(path, local_files_only=True),
        tokenizer=AutoTokenizer.from_pretrained(path, local_files_only=True),
    )
    model = CLIPModel.from_pretrained(path, local_files_only=True).float().eval()
    model.requires_grad_(False)
    return model, processor


def _embedding(output: Any) -> Tensor:
    """The projected embedding: a tensor in transformers 4, ``pooler_output`` of an output object in 5."""
    return output if isinstance(output, Tensor) else output.pooler_output


def _image_list(images: Images) -> list[Tensor | Image.Image]:
    if isinstance(images, Tensor):
        items: list[Tensor | Image.Image] = [images] if images.dim() == 3 else list(images)
    else:
        items = list(images)
    for item in items:
        if isinstance(item, Tensor) and (item.dtype != torch.uint8 or item.dim() != 3):
            raise ValueError(f"image tensors must be uint8 (3, H, W), got {item.dtype} {tuple(item.shape)}")
        if not isinstance(item, (Tensor, Image.Image)):
            raise TypeError(f"images must be uint8 tensors or PIL images, got {type(item).__name__}")
    return [item.cpu() if isinstance(item, Tensor) else item for item in items]


def clip_scores(
    model: CLIPModel,
    processor: CLIPProcessor,
    images: Images,
    texts: str | Sequence[str],
    weight: float = CLIP_WEIGHT_TORCHMETRICS,
) -> Tensor:
    """Per-pair ``weight * max(cos, 0)`` as a float32 CPU tensor, one entry per (image, text) pair.

    ``images`` are uint8 tensors, (3, H, W) each or one (N, 3, H, W) batch, or PIL images.
    """
    image_list = _image_list(images)
    text_list = [texts] if isinstance(texts, str) else list(texts)
    if len(image_list) != len(text_list):
        raise ValueError(f"got {len(image_list)} images but {len(text_list)} texts")
    if not image_list:
        return torch.zeros(0)
    device, dtype = model.device, model.dtype
    context = getattr(model.config.text_config, "max_position_embeddings")
    with torch.no_grad():
        pixels = processor(images=image_list, return_tensors="pt")["pixel_values"].to(device, dtype)
        tokens = processor(text=text_list, return_tensors="pt", padding=True, truncation=True, max_length=context)
        image_emb = _embedding(model.get_image_features(pixel_values=pixels))
        text_emb = _embedding(
            model.get_text_features(
                input_ids=tokens["input_ids"].to(device), attention_mask=tokens["attention_mask"].to(device)
            )
        )
    image_emb = image_emb / image_emb.norm(p=2, dim=-1, keepdim=True)
    text_emb = text_emb / text_emb.norm(p=2, dim=-1, keepdim=True)
    cosine = (image_emb * text_emb).sum(dim=-1)
    return (weight * cosine.clamp(min=0)).float().cpu()


class ClipScoreAccumulator(Metric):
    """Mean CLIPScore over all pairs fed with ``update(images, texts)``; ``compute`` gives a float64 scalar.

    Move it with ``.to(device)`` like any torchmetrics metric (the CLIP model moves with it).
    """

    higher_is_better = True
    is_differentiable = False
    full_state_update = False

    score_sum: Tensor
    n_samples: Tensor

    def __init__(self, clip_dir: str | Path, weight: float = CLIP_WEIGHT_TORCHMETRICS, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model, self.processor = load_clip(clip_dir)
        self.folder = Path(clip_dir).expanduser()
        self.weight = float(weight)
        self.add_state("score_sum", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("n_samples", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, images: Images, texts: str | Sequence[str]) -> None:
        scores = clip_scores(self.model, self.processor, images, texts, self.weight)
        self.score_sum += scores.double().sum().to(self.score_sum.device)
        self.n_samples += scores.numel()

    def compute(self) -> Tensor:
        if int(self.n_samples) == 0:
            raise RuntimeError("CLIPScore needs at least one (image, text) pair")
        return self.score_sum / self.n_samples

    def describe(self) -> dict[str, Any]:
        return {
            "metric": "clipscore",
            "model": self.folder.name,
            "weight": self.weight,
            "formula": f"mean over pairs of {self.weight:g} * max(cos(image, text), 0)",
        }
