"""TextMonkey's vision encoder: Monkey's ViT read over the whole high-resolution image at once,
with shifted-window attention across the 448-pixel windows and a token resampler.

What the release's ``text_monkey/visual_text.py`` computes for one image: the image at
``image_size`` through the patch embedding, cut into 32x32-patch windows (row by row), each
with the (resized) position table and ``ln_pre``; before each block listed in ``window_pos``
the windows are joined into the whole grid and passed through that layer's
``CrossWindowAttention`` (``shifted_windows``), then cut again; every block runs on each window
(with LoRA only when ``lora_repeat_num`` > 0: adapter ``k`` for window ``k``, or adapter 0 for
all when there is one); each window is pooled to 256 tokens by the resampler, the windows
concatenated; the token resampler (``token_resampler``) keeps ``r`` of them; the global view
(the image at 448, no adapter, no window attention) adds 256 more. Monkey's parameter names,
plus ``transformer.window_attention.<i>`` and ``downresampler``.
"""

from __future__ import annotations

import torch
from PIL import Image
from torch import nn

from model_adapters.qwen_vl.config import VisualConfig
from model_adapters.qwen_vl.images import WINDOW, full_and_global_views
from model_adapters.qwen_vl.shifted_windows import CrossWindowAttention
from model_adapters.qwen_vl.token_resampler import TokenResampler
from model_adapters.qwen_vl.visual import VisionTransformer, VisualTransformer, resized_positions

#: Tokens the resampler makes of one window or of the global view (the release's literal).
POOLED = 256


def join_windows(windows: torch.Tensor, rows: int) -> torch.Tensor:
    """(N, rows·cols, side², C) -> (N, rows·side, cols·side, C)."""
    batch, count, length, channels = windows.shape
    cols, side = count // rows, int(length ** 0.5)
    grid = windows.view(batch, rows, cols, side, side, channels).permute(0, 1, 3, 2, 4, 5)
    return grid.reshape(batch, rows * side, cols * side, channels)


def cut_windows(grid: torch.Tensor, side: int) -> torch.Tensor:
    """(N, H, W, C) -> (N, windows, side², C), windows row by row."""
    batch, height, width, channels = grid.shape
    rows, cols = height // side, width // side
    windows = grid.reshape(batch, rows, side, cols, side, channels).permute(0, 1, 3, 2, 4, 5)
    return windows.reshape(batch, rows * cols, side * side, channels)


class WindowedTransformer(VisualTransformer):
    def __init__(self, config: VisualConfig) -> None:
        super().__init__(config)
        self.window_pos = config.window_pos if config.add_window else ()
        self.lora_windows = config.lora_repeat_num
        if config.add_window:
            grid = config.image_size // config.patch_size
            self.window_attention = nn.ModuleList(
                CrossWindowAttention(grid, config.width, dim, heads) for dim, heads in zip(config.window_dim, config.window_head)
            )

    def _adapter(self, window: int) -> int | None:
        if self.lora_windows == 0:
            return None
        return 0 if self.lora_windows == 1 else window

    def forward_windows(self, windows: torch.Tensor, rows: int) -> torch.Tensor:
        """(N, windows, side², width), windows row by row over ``rows`` rows."""
        side = int(windows.shape[2] ** 0.5)
        for index, block in enumerate(self.resblocks):
            if index in self.window_pos:
                attention = self.window_attention[self.window_pos.index(index)]
                windows = cut_windows(attention(join_windows(windows, rows)), side)
            if self.lora_windows == 0:
                windows = block(windows.flatten(0, 1), None).view_as(windows)
            else:
                windows = torch.stack([block(windows[:, k], self._adapter(k)) for k in range(windows.shape[1])], dim=1)
        return windows


class TextMonkeyVisionTransformer(VisionTransformer):
    transformer_class = WindowedTransformer
    transformer: WindowedTransformer

    def __init__(self, config: VisualConfig) -> None:
        super().__init__(config, queries=POOLED)
        if config.resampler:
            self.downresampler = TokenResampler(config.resampler_in_dim, config.output_dim, config.resampler_heads,
                                                config.resampler_dim_head, config.r)

    @property
    def token_span(self) -> int:
        local = self.config.r if self.config.resampler else self.windows * POOLED
        return local + (POOLED if self.config.use_global else 0)

    def local_features(self, pixels: torch.Tensor) -> torch.Tensor:
        """(N, 3, image_size, image_size) -> (N, windows·256, output_dim), before token resampling."""
        grid = self.conv1(pixels.to(self.conv1.weight.dtype)).permute(0, 2, 3, 1)
        side = WINDOW // self.config.patch_size
        windows = cut_windows(grid, side)
        windows = self.ln_pre(windows + resized_positions(self.positional_embedding, side * side))
        windows = self.transformer.forward_windows(windows, rows=grid.shape[1] // side)
        batch, count = windows.shape[:2]
        return self.pool(windows.flatten(0, 1)).view(batch, count * POOLED, -1)

    def encode(self, images: list[Image.Image]) -> torch.Tensor:
        """(images, token_span, output_dim)."""
        views = [full_and_global_views(image, self.config.image_size) for image in images]
        device = self.conv1.weight.device
        features = self.local_features(torch.stack([full for full, _ in views]).to(device))
        if self.config.resampler:
            features = self.downresampler(features)
        if self.config.use_global:
            features = torch.cat([features, self(torch.stack([view for _, view in views]).to(device))], dim=1)
        return features
