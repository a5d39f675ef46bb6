"""The Inception-v3 variant that FID is defined on, in plain torch.

FID numbers are only comparable when they come from the 2015-12-05 TensorFlow Inception graph.
Its PyTorch port (``pt_inception-2015-12-05-6726825d.pth``, loaded by pytorch-fid and by
torch-fidelity alike) differs from torchvision's Inception-v3 in three places, reproduced here:
the average pools inside the 35x35, 17x17 and first 8x8 mixed blocks leave padding out of the
mean (TensorFlow's behaviour), the last 8x8 block pools with a max instead of an average, and the
classifier has 1008 outputs. Module names follow the checkpoint's keys, so the file loads
strictly as it is; torchvision is not needed (it does not import beside the CPU torch build).

The four feature taps are those of both reference implementations: 64 after the first max-pool,
192 after the second, 768 at the input of the auxiliary classifier and 2048 after the final
average pool, each averaged over its spatial grid.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

FEATURE_DIMS: tuple[int, ...] = (64, 192, 768, 2048)
INPUT_SIZE = 299


class ConvBnRelu(nn.Module):
    """Bias-free convolution, batch norm with TensorFlow's epsilon, ReLU (checkpoint keys ``conv``/``bn``)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int = 1,
        padding: int | tuple[int, int] = 0,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg_pool_without_padding(x: Tensor) -> Tensor:
    """3x3 stride-1 average whose border windows divide by the pixels they cover, as TensorFlow does."""
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class Mixed35(nn.Module):
    """35x35 mixed block (checkpoint ``Mixed_5b``..``Mixed_5d``)."""

    def __init__(self, in_channels: int, pool_channels: int) -> None:
        super().__init__()
        self.branch1x1 = ConvBnRelu(in_channels, 64, 1)
        self.branch5x5_1 = ConvBnRelu(in_channels, 48, 1)
        self.branch5x5_2 = ConvBnRelu(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = ConvBnRelu(in_channels, 64, 1)
        self.branch3x3dbl_2 = ConvBnRelu(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = ConvBnRelu(96, 96, 3, padding=1)
        self.branch_pool = ConvBnRelu(in_channels, pool_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        wide = self.branch5x5_2(self.branch5x5_1(x))
        deep = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        pooled = self.branch_pool(_avg_pool_without_padding(x))
        return torch.cat([self.branch1x1(x), wide, deep, pooled], dim=1)


class Reduce35To17(nn.Module):
    """Grid reduction from 35x35 to 17x17 (checkpoint ``Mixed_6a``)."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = ConvBnRelu(in_channels, 384, 3, stride=2)
        self.branch3x3dbl_1 = ConvBnRelu(in_channels, 64, 1)
        self.branch3x3dbl_2 = ConvBnRelu(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = ConvBnRelu(96, 96, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        deep = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        pooled = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([self.branch3x3(x), deep, pooled], dim=1)


class Mixed17(nn.Module):
    """17x17 block with factorised 7x7 convolutions (checkpoint ``Mixed_6b``..``Mixed_6e``)."""

    def __init__(self, in_channels: int, mid_channels: int) -> None:
        super().__init__()
        c = mid_channels
        self.branch1x1 = ConvBnRelu(in_channels, 192, 1)
        self.branch7x7_1 = ConvBnRelu(in_channels, c, 1)
        self.branch7x7_2 = ConvBnRelu(c, c, (1, 7), padding=(0, 3))
        self.branch7x7_3 = ConvBnRelu(c, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = ConvBnRelu(in_channels, c, 1)
        self.branch7x7dbl_2 = ConvBnRelu(c, c, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = ConvBnRelu(c, c, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = ConvBnRelu(c, c, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = ConvBnRelu(c, 192, (1, 7), padding=(0, 3))
        self.branch_pool = ConvBnRelu(in_channels, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        single = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        double = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            double = layer(double)
        pooled = self.branch_pool(_avg_pool_without_padding(x))
        return torch.cat([self.branch1x1(x), single, double, pooled], dim=1)


class Reduce17To8(nn.Module):
    """Grid reduction from 17x17 to 8x8 (checkpoint ``Mixed_7a``)."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = ConvBnRelu(in_channels, 192, 1)
        self.branch3x3_2 = ConvBnRelu(192, 320, 3, stride=2)
        self.branch7x7x3_1 = ConvBnRelu(in_channels, 192, 1)
        self.branch7x7x3_2 = ConvBnRelu(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = ConvBnRelu(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = ConvBnRelu(192, 192, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        short = self.branch3x3_2(self.branch3x3_1(x))
        long = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        pooled = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([short, long, pooled], dim=1)


class Mixed8(nn.Module):
    """8x8 block with split 1x3/3x1 heads (checkpoint ``Mixed_7b``, ``Mixed_7c``).

    ``max_pool`` selects the TensorFlow graph's quirk in its last block, which pools with a max
    where every other Inception implementation averages.
    """

    def __init__(self, in_channels: int, max_pool: bool) -> None:
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = ConvBnRelu(in_channels, 320, 1)
        self.branch3x3_1 = ConvBnRelu(in_channels, 384, 1)
        self.branch3x3_2a = ConvBnRelu(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = ConvBnRelu(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = ConvBnRelu(in_channels, 448, 1)
        self.branch3x3dbl_2 = ConvBnRelu(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = ConvBnRelu(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = ConvBnRelu(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = ConvBnRelu(in_channels, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        stem = self.branch3x3_1(x)
        split = torch.cat([self.branch3x3_2a(stem), self.branch3x3_2b(stem)], dim=1)
        deep_stem = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        deep_split = torch.cat([self.branch3x3dbl_3a(deep_stem), self.branch3x3dbl_3b(deep_stem)], dim=1)
        pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1) if self.max_pool else _avg_pool_without_padding(x)
        return torch.cat([self.branch1x1(x), split, deep_split, self.branch_pool(pooled)], dim=1)


def _spatial_mean(x: Tensor) -> Tensor:
    return F.adaptive_avg_pool2d(x, output_size=(1, 1)).flatten(1)


class FidInceptionV3(nn.Module):
    """Inception-v3 as in the FID checkpoint; ``forward`` maps normalised 299x299 input to features.

    The input must already be resized and scaled to [-1, 1]: how that is done is what separates the
    pytorch-fid and torch-fidelity protocols, so it lives with them in ``bench.metrics.fid``.
    ``fc`` is the 1008-way classifier of the checkpoint; FID never reads it, but keeping it lets the
    official file load with strict key checking, which catches a wrong or truncated file.
    """

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = ConvBnRelu(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = ConvBnRelu(32, 32, 3)
        self.Conv2d_2b_3x3 = ConvBnRelu(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = ConvBnRelu(64, 80, 1)
        self.Conv2d_4a_3x3 = ConvBnRelu(80, 192, 3)
        self.Mixed_5b = Mixed35(192, pool_channels=32)
        self.Mixed_5c = Mixed35(256, pool_channels=64)
        self.Mixed_5d = Mixed35(288, pool_channels=64)
        self.Mixed_6a = Reduce35To17(288)
        self.Mixed_6b = Mixed17(768, mid_channels=128)
        self.Mixed_6c = Mixed17(768, mid_channels=160)
        self.Mixed_6d = Mixed17(768, mid_channels=160)
        self.Mixed_6e = Mixed17(768, mid_channels=192)
        self.Mixed_7a = Reduce17To8(768)
        self.Mixed_7b = Mixed8(1280, max_pool=False)
        self.Mixed_7c = Mixed8(2048, max_pool=True)
        self.fc = nn.Linear(2048, 1008)

    def forward(self, x: Tensor, dims: int = 2048) -> Tensor:
        """Features of width ``dims`` (one of ``FEATURE_DIMS``), running only the layers they need."""
        if dims not in FEATURE_DIMS:
            raise ValueError(f"FID feature dims must be one of {FEATURE_DIMS}, got {dims}")
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        if dims == 64:
            return _spatial_mean(x)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        if dims == 192:
            return _spatial_mean(x)
        blocks: tuple[nn.Module, ...] = (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a)
        for block in blocks:
            x = block(x)
        blocks = (self.Mixed_6b, self.Mixed_6c, self.Mixed_6d, self.Mixed_6e)
        for block in blocks:
            x = block(x)
        if dims == 768:
            return _spatial_mean(x)
        x = self.Mixed_7c(self.Mixed_7b(self.Mixed_7a(x)))
        return _spatial_mean(x)

    def train(self, mode: bool = True) -> FidInceptionV3:
        """Stay in evaluation mode: batch statistics must never replace the checkpoint's."""
        return super().train(False)


def load_fid_inception(weights_path: str | Path) -> FidInceptionV3:
    """Build the network and load the checkpoint with strict key checking, on the CPU, in eval mode."""
    network = FidInceptionV3()
    state = torch.load(Path(weights_path), map_location="cpu", weights_only=True)
    network.load_state_dict(state, strict=True)
    network.requires_grad_(False)
    return network.eval()
