"""DocOwl 1.5: the vision encoder, the H-Reducer, the modality-adaptive LLaMA and the LM head,
loaded from a release folder (the release's parameter names, safetensors or PyTorch files).

A prompt's image is its crops (the global view first); each crop takes one ``<|image|>`` mark
in the prompt ids, which becomes ``image_tokens`` positions holding that crop's features.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

from model_adapters.common.checkpoints import assign_tensors, read_checkpoint, refuse_missing
from model_adapters.mplug_docowl.config import DocOwlConfig
from model_adapters.mplug_docowl.llm import Decoder
from model_adapters.mplug_docowl.visual import HReducer, VisionModel

#: Checkpoint entries for buffers that are computed, not learnt.
_COMPUTED_KEYS = re.compile(r".*\.rotary_emb\.inv_freq$")


class DocOwlBackbone(Decoder):
    """The release's ``model``: the decoder with ``vision_model`` and ``vision2text``."""

    def __init__(self, config: DocOwlConfig) -> None:
        super().__init__(config)
        self.vision_model = VisionModel(config.vision)
        self.vision2text = HReducer(config)


class DocOwlModel(nn.Module):
    def __init__(self, config: DocOwlConfig) -> None:
        super().__init__()
        self.config = config
        self.model = DocOwlBackbone(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)

    def crop_features(self, pixels: torch.Tensor) -> torch.Tensor:
        """(crops, 3, H, W) to (crops, image_tokens, hidden)."""
        weight = self.lm_head.weight
        states = self.model.vision_model(pixels.to(device=weight.device, dtype=weight.dtype))
        return self.model.vision2text(states)

    @classmethod
    def from_folder(cls, folder: Path, dtype: torch.dtype, device: torch.device) -> "DocOwlModel":
        config = DocOwlConfig.from_folder(folder)
        with torch.device("meta"):
            model = cls(config)
        missing = assign_tensors(model, read_checkpoint(folder), folder, "DocOwl 1.5", dtype, device, _COMPUTED_KEYS)
        refuse_missing(folder, missing)
        return model.eval()
