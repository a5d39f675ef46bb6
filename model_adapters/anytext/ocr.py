"""AnyText's OCR recogniser (PP-OCRv3 rec: MobileNetV1Enhance, SVTR neck, CTC head), whose neck
features of a rendered glyph line become the line's text embedding.

Module and parameter names are the release's (``ocr_recog/``), so ``text_predictor.*`` of the
checkpoint loads as is. The release builds one fixed configuration (backbone scale 0.5, SVTR
with 8 heads, 6625 classes); the scale, the SVTR widths and depth and the class count are read
from the weights' shapes here, the rest is the release's constant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

#: The recogniser's input, channels × height × width, as ``ControlLDM`` configures it.
INPUT_SHAPE = (3, 48, 320)
SVTR_HEADS = 8
#: MobileNetV1Enhance's depthwise-separable blocks before scaling: (channels in, channels out,
#: stride, kernel, squeeze-excitation). The last stride is ``last_conv_stride=[1, 2]``.
BLOCKS: tuple[tuple[int, int, int | tuple[int, int], int, bool], ...] = (
    (32, 64, 1, 3, False), (64, 128, 1, 3, False), (128, 128, 1, 3, False), (128, 256, (2, 1), 3, False),
    (256, 256, 1, 3, False), (256, 512, (2, 1), 3, False),
    *((512, 512, 1, 5, False),) * 5,
    (512, 1024, (2, 1), 5, True), (1024, 1024, (1, 2), 5, True),
)


@dataclass(frozen=True)
class RecognizerConfig:
    scale: float
    svtr_hidden: int
    svtr_depth: int
    neck_dims: int
    classes: int

    @classmethod
    def from_weights(cls, state: Mapping[str, torch.Tensor]) -> "RecognizerConfig":
        depth = len({key.split(".")[3] for key in state if key.startswith("neck.encoder.svtr_block.")})
        return cls(
            scale=state["backbone.conv1._conv.weight"].shape[0] / 32,
            svtr_hidden=state["neck.encoder.conv2.conv.weight"].shape[0],
            svtr_depth=depth,
            neck_dims=state["neck.encoder.conv1x1.conv.weight"].shape[0],
            classes=state["head.fc.weight"].shape[0],
        )


def hard_swish(x: torch.Tensor) -> torch.Tensor:
    return x * F.relu6(x + 3.0) / 6.0


class ConvBN(nn.Module):
    """Backbone convolution: conv without bias, batch norm, hard swish (or nothing)."""

    def __init__(self, channels_in: int, channels_out: int, kernel: int, stride: Any, groups: int = 1, act: bool = True) -> None:
        super().__init__()
        self._conv = nn.Conv2d(channels_in, channels_out, kernel, stride=stride, padding=(kernel - 1) // 2, groups=groups, bias=False)
        self._batch_norm = nn.BatchNorm2d(channels_out)
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self._batch_norm(self._conv(x))
        return hard_swish(y) if self.act else y


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels // reduction, 1)
        self.conv2 = nn.Conv2d(channels // reduction, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.conv2(F.relu(self.conv1(F.adaptive_avg_pool2d(x, 1))))
        return x * (F.relu6(weights + 3.0) / 6.0)


class DepthwiseSeparable(nn.Module):
    def __init__(self, channels_in: int, channels_out: int, stride: Any, kernel: int, use_se: bool) -> None:
        super().__init__()
        self._depthwise_conv = ConvBN(channels_in, channels_in, kernel, stride, groups=channels_in)
        self._se = SqueezeExcite(channels_in) if use_se else None
        self._pointwise_conv = ConvBN(channels_in, channels_out, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self._depthwise_conv(x)
        if self._se is not None:
            y = self._se(y)
        return self._pointwise_conv(y)


class Backbone(nn.Module):
    def __init__(self, scale: float) -> None:
        super().__init__()
        self.conv1 = ConvBN(3, int(32 * scale), 3, 2)
        self.block_list = nn.Sequential(*(
            DepthwiseSeparable(int(c_in * scale), int(c_out * scale), stride, kernel, se) for c_in, c_out, stride, kernel, se in BLOCKS
        ))
        self.pool = nn.AvgPool2d(kernel_size=2, stride=2)
        self.out_channels = int(1024 * scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.block_list(self.conv1(x)))


class SwishConvBN(nn.Module):
    """Neck convolution: conv without bias, batch norm, swish."""

    def __init__(self, channels_in: int, channels_out: int, kernel: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels_in, channels_out, kernel, padding=(kernel - 1) // 2, bias=False)
        self.norm = nn.BatchNorm2d(channels_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm(self.conv(x))
        return y * torch.sigmoid(y)


class GlobalAttention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, tokens, dim = x.shape
        qkv = self.qkv(x).reshape(-1, tokens, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        attention = (qkv[0] * self.scale).matmul(qkv[1].transpose(-1, -2)).softmax(dim=-1)
        return self.proj(attention.matmul(qkv[2]).permute(0, 2, 1, 3).reshape(-1, tokens, dim))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc1(x)
        return self.fc2(y * torch.sigmoid(y))


class SvtrBlock(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-5)
        self.mixer = GlobalAttention(dim, SVTR_HEADS)
        self.norm2 = nn.LayerNorm(dim, eps=1e-5)
        self.mlp = Mlp(dim, int(dim * 2.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.mixer(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class SvtrEncoder(nn.Module):
    def __init__(self, channels: int, config: RecognizerConfig) -> None:
        super().__init__()
        hidden = config.svtr_hidden
        self.conv1 = SwishConvBN(channels, channels // 8, 3)
        self.conv2 = SwishConvBN(channels // 8, hidden, 1)
        self.svtr_block = nn.ModuleList(SvtrBlock(hidden) for _ in range(config.svtr_depth))
        self.norm = nn.LayerNorm(hidden, eps=1e-6)
        self.conv3 = SwishConvBN(hidden, channels, 1)
        self.conv4 = SwishConvBN(2 * channels, channels // 8, 3)
        self.conv1x1 = SwishConvBN(channels // 8, config.neck_dims, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.conv2(self.conv1(x))
        batch, channels, height, width = z.shape
        z = z.flatten(2).permute(0, 2, 1)
        for block in self.svtr_block:
            z = block(z)
        z = self.norm(z).reshape(batch, height, width, channels).permute(0, 3, 1, 2)
        z = torch.cat((x, self.conv3(z)), dim=1)
        return self.conv1x1(self.conv4(z))


class Neck(nn.Module):
    def __init__(self, channels: int, config: RecognizerConfig) -> None:
        super().__init__()
        self.encoder = SvtrEncoder(channels, config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x).flatten(2).permute(0, 2, 1)


class Head(nn.Module):
    def __init__(self, dims: int, classes: int) -> None:
        super().__init__()
        self.fc = nn.Linear(dims, classes)


class Recognizer(nn.Module):
    """``RecModel``: ``forward`` gives the neck's sequence features, (N, 40, dims)."""

    def __init__(self, config: RecognizerConfig) -> None:
        super().__init__()
        self.config = config
        self.backbone = Backbone(config.scale)
        self.neck = Neck(self.backbone.out_channels, config)
        self.head = Head(config.neck_dims, config.classes)

    @classmethod
    def from_weights(cls, state: Mapping[str, torch.Tensor]) -> "Recognizer":
        model = cls(RecognizerConfig.from_weights(state))
        model.load_state_dict(state, strict=True)
        return model.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.neck(self.backbone(x))

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        return self.head.fc(features)


def normalize_line(line: torch.Tensor) -> torch.Tensor:
    """``TextRecognizer.resize_norm_img`` of the release for one glyph line (C, H, W, values
    0..255): resized to the input height keeping its aspect ratio (bilinear, corners aligned,
    at most the input width), scaled to [-1, 1], zero-padded on the right."""
    channels, height, width = INPUT_SHAPE
    if line.shape[1] > line.shape[2] * 1.2:  # a tall line is turned on its side, as the release does
        line = torch.transpose(line, 1, 2).flip(dims=[1])
    ratio = line.shape[2] / float(line.shape[1])
    resized_width = width if math.ceil(height * ratio) > width else int(math.ceil(height * ratio))
    resized = F.interpolate(line.unsqueeze(0), size=(height, resized_width), mode="bilinear", align_corners=True)
    resized = (resized / 255.0 - 0.5) / 0.5
    padded = torch.zeros((channels, height, width), dtype=line.dtype, device=line.device)
    padded[:, :, :resized_width] = resized[0]
    return padded
