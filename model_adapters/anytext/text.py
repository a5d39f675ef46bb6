"""AnyText's prompt encoding: CLIP's text encoder, with each placeholder token's embedding
replaced by the embedding of one rendered text line (the release's ``EmbeddingManager`` and
``FrozenCLIPEmbedderT3``).

A line's embedding is the OCR recogniser's neck features of its glyph line (40 × 64 values)
through ``proj`` (linear, then layer norm). A prompt is tokenized untruncated and padded to the
longest in its batch, then encoded in chunks of 75 tokens between start and end tokens (an empty
prompt is one chunk of end tokens), the chunks' states concatenated: 77 × k states. Inside each
chunk the i-th placeholder takes line i, as the release replaces them chunk by chunk.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import torch
from torch import nn

from model_adapters.anytext.ocr import Recognizer, normalize_line

CHUNK = 75
#: The recogniser's neck output the projection reads: 40 columns × 64 dims.
NECK_VALUES = 40 * 64


class LineProjection(nn.Module):
    """``embedding_manager.proj``: the release's ``Sequential(Linear, LayerNorm)``."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.proj = nn.Sequential(nn.Linear(NECK_VALUES, width), nn.LayerNorm(width))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.proj(features.reshape(features.shape[0], -1))


@dataclass
class TextEncoder:
    tokenizer: Any
    transformer: Any
    recognizer: Recognizer
    projection: LineProjection
    placeholder_id: int

    @classmethod
    def load(cls, clip_folder: Path, clip_state: Mapping[str, torch.Tensor], recognizer: Recognizer,
             projection_state: Mapping[str, torch.Tensor], placeholder: str) -> "TextEncoder":
        from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

        tokenizer = CLIPTokenizer.from_pretrained(clip_folder, local_files_only=True)
        config = CLIPTextConfig.from_pretrained(clip_folder, local_files_only=True)
        transformer = CLIPTextModel(config).eval()
        wanted = set(transformer.state_dict())
        state = {key.removeprefix("text_model.") if key not in wanted else key: value for key, value in clip_state.items()}
        state = {key: value for key, value in state.items() if not key.endswith("position_ids")}
        transformer.load_state_dict(state, strict=True)
        projection = LineProjection(projection_state["proj.0.weight"].shape[0])
        projection.load_state_dict(projection_state, strict=True)
        ids = tokenizer(placeholder, add_special_tokens=False)["input_ids"]
        if len(ids) != 1:
            raise ValueError(f"the placeholder {placeholder!r} is {len(ids)} tokens for the tokenizer in {clip_folder}; AnyText needs one")
        return cls(tokenizer, transformer, recognizer, projection.eval(), int(ids[0]))

    def to(self, device: Any, dtype: Any) -> "TextEncoder":
        for module in (self.transformer, self.recognizer, self.projection):
            module.to(device=device, dtype=dtype)
        return self

    @property
    def device(self) -> torch.device:
        return next(self.transformer.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.transformer.parameters()).dtype

    def line_features(self, lines: Sequence[torch.Tensor]) -> torch.Tensor:
        """The recogniser's neck features for glyph lines (each H × W, values 0/1)."""
        batch = torch.stack([normalize_line(line.float()[None].repeat(3, 1, 1) * 255) for line in lines])
        with torch.no_grad():
            return self.recognizer(batch.to(self.device, self.dtype))

    def line_embeddings(self, lines: Sequence[torch.Tensor]) -> torch.Tensor:
        with torch.no_grad():
            return self.projection(self.line_features(lines))

    def token_ids(self, prompts: Sequence[str]) -> torch.Tensor:
        encoded = self.tokenizer(list(prompts), truncation=False, padding="longest", return_tensors="pt", verbose=False)
        return encoded["input_ids"]

    def encode(self, prompts: Sequence[str], lines: torch.Tensor | None = None) -> torch.Tensor:
        """States (B, 77 × chunks, width) of prompts; ``lines`` (L, width) fill the placeholders."""
        chunks = split_chunks(self.token_ids(prompts))
        states = []
        with torch.no_grad(), self._placeholders(lines):
            for chunk in chunks:
                states.append(self.transformer(input_ids=chunk.to(self.device)).last_hidden_state)
        return torch.cat(states, dim=1)

    @contextmanager
    def _placeholders(self, lines: torch.Tensor | None) -> Iterator[None]:
        def replace(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor:
            ids = inputs[0]
            output = output.clone()
            for row in range(ids.shape[0]):
                where = ids[row] == self.placeholder_id
                count = int(where.sum())
                if count == 0:
                    continue
                if lines is None or count > lines.shape[0]:
                    have = 0 if lines is None else lines.shape[0]
                    raise ValueError(f"the prompt holds {count} placeholders in one chunk and only {have} text lines were given")
                output[row][where] = lines[:count].to(output.dtype)
            return output

        handle = self.transformer.get_input_embeddings().register_forward_hook(replace)
        try:
            yield
        finally:
            handle.remove()


def split_chunks(ids: torch.Tensor, chunk: int = CHUNK) -> list[torch.Tensor]:
    """``FrozenCLIPEmbedderT3.split_chunks``: the ids between start and end token cut into
    ``chunk``-long pieces, each framed by the start and end token, the last padded with end tokens."""
    start, end = ids[:, :1], ids[:, -1:]
    inner = ids[:, 1:-1]
    count = inner.shape[1]
    if count == 0:
        return [torch.cat((start,) + (end,) * (chunk + 1), dim=1)]
    pieces = [torch.cat((start, inner[:, index:index + chunk], end), dim=1) for index in range(0, count - count % chunk, chunk)]
    rest = count % chunk
    if rest:
        padding = end.expand(ids.shape[0], chunk - rest)
        pieces.append(torch.cat((start, inner[:, -rest:], padding, end), dim=1))
    return pieces
