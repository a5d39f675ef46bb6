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

from model_adapters.mplug_docowl.config import DocOwlConfig
from model_adapters.mplug_docowl.llm import Decoder
from model_adapters.mplug_docowl.visual import HReducer, VisionModel
from model_adapters.qwen_vl.model import read_checkpoint

#: Checkpoint entries for buffers that are computed, not learnt.
_COMPUTED_KEYS = re.compile(r".*\.rotary_emb\.inv_freq$")


class CheckpointError(ValueError):
    pass


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
        expected = model.state_dict()
        found = set()
        for name, tensor in read_checkpoint(folder):
            if name not in expected:
                if _COMPUTED_KEYS.match(name):
                    continue
                raise CheckpointError(f"{folder}: tensor {name!r} has no place in a DocOwl 1.5 model; is this the right folder?")
            if tuple(tensor.shape) != tuple(expected[name].shape):
                raise CheckpointError(f"{folder}: {name} has shape {tuple(tensor.shape)}, config.json implies {tuple(expected[name].shape)}")
            owner_name, _, attribute = name.rpartition(".")
            setattr(model.get_submodule(owner_name), attribute, nn.Parameter(tensor.to(device=device, dtype=dtype), requires_grad=False))
            found.add(name)
        missing = sorted(set(expected) - found)
        if missing:
            listed = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
            raise CheckpointError(f"{folder}: the weights lack {len(missing)} tensors ({listed})")
        return model.eval()
