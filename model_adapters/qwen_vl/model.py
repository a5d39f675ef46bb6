"""Monkey and TextMonkey: the Qwen decoder, the vision encoder of the folder's variant
(``visual`` or ``text_visual``) and the LM head, loaded from a release folder.

A prompt's image occupies ``<img>`` + ``image_token_span`` positions + ``</img>``; the release
writes the image's file path (as bytes) into those positions and overwrites their embeddings
with the image features, so the ids there never matter and here are ``<imgpad>``.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from PIL import Image
from torch import nn

from model_adapters.common.checkpoints import assign, assign_tensors, read_checkpoint, refuse_missing
from model_adapters.qwen_vl.config import QwenVLConfig
from model_adapters.qwen_vl.llm import QwenDecoder
from model_adapters.qwen_vl.text_visual import TextMonkeyVisionTransformer
from model_adapters.qwen_vl.visual import VisionTransformer, sincos_positions

#: Keys of older checkpoints for buffers that are computed, not learnt.
_COMPUTED_KEYS = re.compile(r".*\.attn\.(rotary_emb\.inv_freq|masked_bias|bias)$")
_RESAMPLER_POSITIONS = "transformer.visual.attn_pool.pos_embed"


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
        missing = assign_tensors(model, read_checkpoint(folder), folder, config.model_type, dtype, device, _COMPUTED_KEYS)
        if _RESAMPLER_POSITIONS in missing:
            queries = model.transformer.visual.attn_pool.query.shape[0]
            side = int(queries ** 0.5)
            assign(model, _RESAMPLER_POSITIONS, sincos_positions(config.visual.output_dim, side).to(device=device, dtype=dtype))
            missing.discard(_RESAMPLER_POSITIONS)
        refuse_missing(folder, missing)
        return model.eval()
