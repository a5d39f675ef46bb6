"""A one-layer causal model that, like Qwen-VL, opens the image file whose path sits between
the image tags of its input and writes the image's features over those positions."""

import numpy as np
import torch
from PIL import Image
from torch import nn
from transformers import GenerationMixin, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutputWithPast

from .configuration_tinyqwen import TinyQwenConfig


class TinyQwenLMHeadModel(PreTrainedModel, GenerationMixin):
    config_class = TinyQwenConfig
    base_model_prefix = "tiny"

    def __init__(self, config):
        super().__init__(config)
        size = config.visual["image_size"]
        self.embed = nn.Embedding(config.vocab_size, config.hidden_size)
        self.positions = nn.Embedding(config.max_positions, config.hidden_size)
        self.visual = nn.Linear(3 * size * size, config.hidden_size)
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size)
        self._pixels = {}
        self.post_init()

    def _image_features(self, path):
        # Without a cache every step reads the whole sequence again; the file is decoded once.
        if path not in self._pixels:
            size = self.config.visual["image_size"]
            with Image.open(path) as image:
                pixels = image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
            self._pixels[path] = torch.from_numpy(np.asarray(pixels, dtype=np.float32)).flatten() / 255.0
        data = self._pixels[path]
        return self.visual(data.to(device=self.visual.weight.device, dtype=self.visual.weight.dtype))

    def _embed(self, input_ids):
        start = self.config.visual["image_start_id"]
        hidden = self.embed(input_ids)
        for row, begin in zip(*torch.where(input_ids == start)):
            ids, begin = input_ids[row].tolist(), int(begin)
            if start + 1 not in ids[begin:]:
                continue  # an unclosed tag: generated, not prompted
            end = ids.index(start + 1, begin)
            path = bytes(index for index in ids[begin + 1 : end] if index < 256).decode("utf-8")
            hidden[row, begin + 1 : end] = self._image_features(path)
        return hidden

    def forward(self, input_ids, attention_mask=None, **kwargs):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        hidden = self._embed(input_ids) + self.positions(position_ids)
        scores = self.query(hidden) @ self.key(hidden).transpose(1, 2) / hidden.shape[-1] ** 0.5
        length = input_ids.shape[1]
        causal = torch.ones(length, length, dtype=torch.bool, device=input_ids.device).tril()
        allowed = causal[None] & attention_mask.bool()[:, None, :]
        hidden = hidden + scores.masked_fill(~allowed, -1e9).softmax(-1) @ self.value(hidden)
        return CausalLMOutputWithPast(logits=self.lm_head(hidden))

    def prepare_inputs_for_generation(self, input_ids, attention_mask=None, **kwargs):
        # No cache: every step reads the whole sequence, image tags included.
        return {"input_ids": input_ids, "attention_mask": attention_mask}
