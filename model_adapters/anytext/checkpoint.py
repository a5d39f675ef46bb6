"""Reading AnyText's release files: the checkpoint (``anytext_v1.1.ckpt``: one state dict,
``torch.save(model.state_dict())``, or a Lightning checkpoint holding it under ``state_dict``;
``.safetensors`` too) and the model config (``models_yaml/anytext_sd15.yaml``).

The state dict's parts, by prefix: ``model.diffusion_model.`` (UNet), ``control_model.`` (the
text-control network with its glyph, position and fuse blocks), ``first_stage_model.`` (VAE),
``cond_stage_model.transformer.`` (CLIP's text model), ``embedding_manager.`` (the line
projection), ``text_predictor.`` (the OCR recogniser), and the DDPM schedule's buffers
(``alphas_cumprod``, ...) without a prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from model_adapters.common.folders import ModelFolderError

if TYPE_CHECKING:
    import torch

PARTS = ("model.diffusion_model.", "control_model.", "first_stage_model.", "cond_stage_model.transformer.",
         "embedding_manager.", "text_predictor.")
CONFIG_NAME = Path("models_yaml") / "anytext_sd15.yaml"
CLIP_FOLDER = "clip-vit-large-patch14"
EMBEDDING_MANAGER = "cldm.embedding_manager.EmbeddingManager"


@dataclass(frozen=True)
class ReleaseFiles:
    checkpoint: Path
    config: Path
    clip: Path

    @classmethod
    def locate(cls, checkpoint: Path, config: Path | None, clip: Path | None) -> "ReleaseFiles":
        """The checkpoint, its yaml (default: ``models_yaml/anytext_sd15.yaml`` beside the
        checkpoint or one folder up, as in the repository and the ModelScope folder) and the CLIP
        folder with the tokenizer and the text model's config (default:
        ``clip-vit-large-patch14/`` beside the checkpoint, as the ModelScope folder holds it)."""
        if not checkpoint.is_file():
            raise ModelFolderError(f"AnyText checkpoint {checkpoint} does not exist (option checkpoint=PATH/anytext_v1.1.ckpt)")
        if config is None:
            candidates = [checkpoint.parent / CONFIG_NAME, checkpoint.parent.parent / CONFIG_NAME]
            config = next((path for path in candidates if path.is_file()), candidates[0])
        if not config.is_file():
            raise ModelFolderError(f"AnyText config {config} does not exist; pass config=PATH/models_yaml/anytext_sd15.yaml")
        if clip is None:
            clip = checkpoint.parent / CLIP_FOLDER
        if not (clip / "config.json").is_file() or not (clip / "vocab.json").is_file():
            raise ModelFolderError(
                f"{clip} is not a CLIP folder with config.json, vocab.json and merges.txt (openai/clip-vit-large-patch14, "
                "which the release's text encoder reads); pass clip=FOLDER"
            )
        return cls(checkpoint, config, clip)


def read_config(path: Path) -> dict[str, Any]:
    import yaml

    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    params = document.get("model", {}).get("params", {}) if isinstance(document, dict) else {}
    manager = params.get("embedding_manager_config") or {}
    if manager.get("target") != EMBEDDING_MANAGER or (manager.get("params") or {}).get("emb_type", "ocr") != "ocr":
        raise ValueError(f"{path} is not AnyText's ocr-embedding config (model.params.embedding_manager_config with emb_type: ocr)")
    return document


def read_state(path: Path) -> dict[str, "torch.Tensor"]:
    import torch

    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state: Any = load_file(str(path))
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:
            raise ValueError(f"{path} could not be read as a torch checkpoint of tensors: {error}") from error
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    missing = [prefix for prefix in PARTS if not any(key.startswith(prefix) for key in state)]
    if missing:
        raise ValueError(f"{path} is not an AnyText checkpoint: it has no {', '.join(p + '*' for p in missing)} weights")
    return dict(state)


def part(state: Mapping[str, "torch.Tensor"], prefix: str) -> dict[str, "torch.Tensor"]:
    return {key[len(prefix):]: value for key, value in state.items() if key.startswith(prefix)}
