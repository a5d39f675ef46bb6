"""Fréchet Inception Distance under the two protocols that published numbers were measured with.

Both protocols run the same network and checkpoint (``bench.metrics.inception``) but prepare the
pixels differently, which moves the score, so every FID here names its protocol:

``pytorch-fid``
    What the AnyText and MARIO-Eval scripts ran (checked against pytorch-fid 0.3.0): RGB pixels
    scaled to [0, 1], torch's bilinear resize to 299x299 (``align_corners=False``, no
    antialiasing), then [-1, 1]; statistics in float64 and the Fréchet distance through
    ``scipy.linalg.sqrtm``, adding 1e-6 to the covariance diagonals when the product's square root
    is not finite.
``torch-fidelity``
    What torchmetrics follows (checked against torch-fidelity 0.4.0): uint8 pixels resized with
    TensorFlow 1.x's bilinear rule (sample point ``i * in / out``, no half-pixel offset), then
    ``(x - 128) / 128``; the trace of the square root taken as the sum of square roots of the
    product's eigenvalues (torchmetrics' own ``compute``).

Features accumulate in torchmetrics' ``FrechetInceptionDistance`` (float64 sums), so a task can feed
generated images batch by batch; ``compute_fid`` does the same for two folders, finding files and
batching them as the chosen reference does. ``benchmarks/fid_reference_check.py`` compares the
results with both reference packages.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from scipy import linalg
from torch import Tensor, nn
from torchmetrics.image.fid import FrechetInceptionDistance

from bench.metrics.fid_weights import resolve_fid_weights
from bench.metrics.inception import FEATURE_DIMS, INPUT_SIZE, FidInceptionV3, load_fid_inception

log = logging.getLogger(__name__)

FidProtocol = Literal["pytorch-fid", "torch-fidelity"]
FID_PROTOCOLS: tuple[str, ...] = get_args(FidProtocol)


@dataclass(frozen=True)
class ProtocolSpec:
    """How a reference finds images in a folder and how many it feeds the network at once."""

    batch_size: int
    extensions: frozenset[str]
    extensions_any_case: bool


_PROTOCOL_SPECS: dict[str, ProtocolSpec] = {
    # pytorch-fid globs ``*.<ext>`` per lowercase extension, so upper-case suffixes are skipped.
    "pytorch-fid": ProtocolSpec(
        batch_size=50,
        extensions=frozenset({"bmp", "jpg", "jpeg", "pgm", "png", "ppm", "tif", "tiff", "webp"}),
        extensions_any_case=False,
    ),
    "torch-fidelity": ProtocolSpec(
        batch_size=64,
        extensions=frozenset({"png", "jpg", "jpeg"}),
        extensions_any_case=True,
    ),
}


def protocol_spec(protocol: str) -> ProtocolSpec:
    if protocol not in _PROTOCOL_SPECS:
        raise ValueError(f"FID protocol must be one of {FID_PROTOCOLS}, got {protocol!r}")
    return _PROTOCOL_SPECS[protocol]


def _tf1_sample_points(in_len: int, out_len: int, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """Neighbour indices and weights along one axis; float32 arithmetic as in torch-fidelity's port."""
    step = torch.tensor(in_len / out_len, dtype=torch.float32)
    position = torch.arange(out_len, dtype=torch.float32, device=device) * step.to(device)
    lower = position.long()
    upper = (lower + 1).clamp_max(in_len - 1)
    return lower, upper, position - lower.float()


def _lerp(a: Tensor, b: Tensor, weight: Tensor) -> Tensor:
    # Spelled out rather than torch.lerp, whose formula switches halfway and rounds differently.
    return a + (b - a) * weight


def resize_bilinear_tf1(images: Tensor, size: int) -> Tensor:
    """Square bilinear resize of float NCHW images by TensorFlow 1.x's rule (``align_corners=False``).

    TensorFlow samples output pixel ``i`` at ``i * in / out`` with no half-pixel offset, so the
    result differs from ``F.interpolate``. The FID graph was fed this way; the arithmetic follows
    torch-fidelity's port step by step (float32 positions, truncation, two horizontal blends, one
    vertical), so the pixels come out identical.
    """
    rows_lo, rows_hi, row_weight = _tf1_sample_points(images.shape[2], size, images.device)
    cols_lo, cols_hi, col_weight = _tf1_sample_points(images.shape[3], size, images.device)
    top = images.index_select(2, rows_lo)
    bottom = images.index_select(2, rows_hi)
    top = _lerp(top.index_select(3, cols_lo), top.index_select(3, cols_hi), col_weight)
    bottom = _lerp(bottom.index_select(3, cols_lo), bottom.index_select(3, cols_hi), col_weight)
    return _lerp(top, bottom, row_weight[:, None])


def _prepare_pytorch_fid(images: Tensor) -> Tensor:
    x = images.to(torch.float32) / 255
    x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
    return 2 * x - 1


def _prepare_torch_fidelity(images: Tensor) -> Tensor:
    x = resize_bilinear_tf1(images.to(torch.float32), INPUT_SIZE)
    return (x - 128) / 128


_PREPARE = {"pytorch-fid": _prepare_pytorch_fid, "torch-fidelity": _prepare_torch_fidelity}


class FidFeatureExtractor(nn.Module):
    """uint8 RGB batches (N, 3, H, W) of any size to FID features, resized as ``protocol`` does.

    Usable directly as ``FrechetInceptionDistance(feature=...)`` (``num_features`` spares torchmetrics
    a dummy forward pass); that metric always takes the eigenvalue form of the distance, so
    ``InceptionFID`` is the one that also reproduces pytorch-fid's ``sqrtm`` route.
    """

    def __init__(self, network: FidInceptionV3, protocol: FidProtocol = "pytorch-fid", dims: int = 2048) -> None:
        super().__init__()
        protocol_spec(protocol)
        if dims not in FEATURE_DIMS:
            raise ValueError(f"FID feature dims must be one of {FEATURE_DIMS}, got {dims}")
        self.network = network.eval()
        self.protocol = protocol
        self.dims = dims
        self.num_features = dims

    def forward(self, images: Tensor) -> Tensor:
        if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"expected uint8 images of shape (N, 3, H, W), got {images.dtype} {tuple(images.shape)}")
        with torch.no_grad():
            return self.network(_PREPARE[self.protocol](images), self.dims)

    def train(self, mode: bool = True) -> FidFeatureExtractor:
        return super().train(False)


def _sqrtm(matrix: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", linalg.LinAlgWarning)
        root = linalg.sqrtm(matrix)
    for warning in caught:
        log.debug("sqrtm: %s", warning.message)
    return root


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float = 1e-6
) -> float:
    """Fréchet distance of two Gaussians in float64, as pytorch-fid's ``calculate_frechet_distance``.

    ``||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr(sqrt(S1 S2))``. A product too singular for a finite
    square root (fewer images than dims) gets ``eps`` on both diagonals, and a square root with a
    non-negligible imaginary diagonal is an error, both as in the reference.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, dtype=np.float64)), np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    sigma1 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64))
    sigma2 = np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(
            f"mismatched statistics: means {mu1.shape}/{mu2.shape}, covariances {sigma1.shape}/{sigma2.shape}"
        )
    diff = mu1 - mu2
    covmean = _sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        log.warning("FID: covariance product is singular; adding %g to the diagonals", eps)
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = _sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"FID: square root has imaginary component {np.max(np.abs(covmean.imag))}")
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def _moments(total: Tensor, outer_total: Tensor, count: Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance (as ``np.cov``) from torchmetrics' float64 running sums."""
    n = int(count)
    mean = total / n
    cov = (outer_total - n * torch.outer(mean, mean)) / (n - 1)
    return mean.cpu().numpy(), cov.cpu().numpy()


class InceptionFID(FrechetInceptionDistance):
    """torchmetrics' FID accumulator on the FID checkpoint, scoring the way ``protocol``'s reference does.

    Feed uint8 (N, 3, H, W) batches with ``update(images, real=...)``; ``compute`` returns a float64
    scalar. Raises ``FidWeightsMissing`` when the checkpoint cannot be found.
    """

    def __init__(
        self,
        weights_path: str | Path | None,
        protocol: FidProtocol = "pytorch-fid",
        dims: int = 2048,
        **kwargs: Any,
    ) -> None:
        protocol_spec(protocol)
        path = resolve_fid_weights(weights_path)
        extractor = FidFeatureExtractor(load_fid_inception(path), protocol, dims)
        super().__init__(feature=extractor, normalize=False, **kwargs)
        self.protocol = protocol
        self.dims = dims
        self.weights_path = path
        self.weights_file = path.name

    def compute(self) -> Tensor:
        if self.protocol == "torch-fidelity":
            return super().compute().to(torch.float64)
        if self.real_features_num_samples < 2 or self.fake_features_num_samples < 2:
            raise RuntimeError("FID needs at least two real and two generated images")
        mu_real, sigma_real = _moments(
            self.real_features_sum, self.real_features_cov_sum, self.real_features_num_samples
        )
        mu_fake, sigma_fake = _moments(
            self.fake_features_sum, self.fake_features_cov_sum, self.fake_features_num_samples
        )
        return torch.tensor(frechet_distance(mu_real, sigma_real, mu_fake, sigma_fake), dtype=torch.float64)

    def describe(self) -> dict[str, Any]:
        return {"metric": "fid", "protocol": self.protocol, "dims": self.dims, "weights": self.weights_file}


def list_fid_images(directory: str | Path, protocol: FidProtocol = "pytorch-fid") -> list[Path]:
    """Image files directly inside ``directory`` that ``protocol``'s reference would read, sorted."""
    spec = protocol_spec(protocol)
    folder = Path(directory)
    if not folder.is_dir():
        raise NotADirectoryError(f"FID image folder not found: {folder}")

    def extension(path: Path) -> str:
        suffix = path.suffix[1:]
        return suffix.lower() if spec.extensions_any_case else suffix

    return sorted(p for p in folder.iterdir() if p.is_file() and extension(p) in spec.extensions)


def load_rgb_uint8(path: Path) -> Tensor:
    """An image file as a (3, H, W) uint8 tensor after PIL's RGB conversion, as both references load it."""
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("RGB"))
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1)


def fid_image_batches(files: Sequence[Path], protocol: FidProtocol = "pytorch-fid") -> Iterator[Tensor]:
    """uint8 batches of ``files`` in ``protocol``'s reference batch size, in file order.

    A batch holding several image sizes, which the references cannot stack, is split by size.
    """
    batch_size = protocol_spec(protocol).batch_size
    for start in range(0, len(files), batch_size):
        by_size: dict[tuple[int, ...], list[Tensor]] = {}
        for path in files[start : start + batch_size]:
            image = load_rgb_uint8(path)
            by_size.setdefault(tuple(image.shape[1:]), []).append(image)
        for group in by_size.values():
            yield torch.stack(group)


def compute_fid(
    real_dir: str | Path,
    generated_dir: str | Path,
    weights_path: str | Path | None,
    protocol: FidProtocol = "pytorch-fid",
    dims: int = 2048,
    *,
    device: str | torch.device = "cpu",
) -> float:
    """FID between the images of two folders, equal to ``protocol``'s reference package on the same files."""
    metric = InceptionFID(weights_path, protocol, dims).to(device)
    for real, directory in ((True, real_dir), (False, generated_dir)):
        files = list_fid_images(directory, protocol)
        if len(files) < 2:
            raise ValueError(f"FID needs at least two images in {directory}, found {len(files)}")
        log.info("FID (%s, %d dims): %d images from %s", protocol, dims, len(files), directory)
        for batch in fid_image_batches(files, protocol):
            metric.update(batch.to(device), real=real)
    return float(metric.compute())
