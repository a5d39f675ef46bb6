"""FID: checkpoint layout, feature taps, protocol wiring and the Fréchet formula, on random weights.

Agreement with the reference packages themselves is checked by benchmarks/fid_reference_check.py,
which needs a separate environment with torchvision.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bench.context import FID_WEIGHTS_ENV
from bench.metrics.fid import (
    FidFeatureExtractor,
    InceptionFID,
    compute_fid,
    fid_image_batches,
    frechet_distance,
    list_fid_images,
    resize_bilinear_tf1,
)
from bench.metrics.fid_weights import FID_WEIGHTS_FILENAME, FidWeightsMissing
from bench.metrics.inception import FEATURE_DIMS, FidInceptionV3, load_fid_inception

# Shapes of a few entries of the official checkpoint, one per kind of block.
OFFICIAL_SHAPES = {
    "Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3),
    "Conv2d_1a_3x3.bn.running_var": (32,),
    "Conv2d_4a_3x3.conv.weight": (192, 80, 3, 3),
    "Mixed_5b.branch_pool.conv.weight": (32, 192, 1, 1),
    "Mixed_6a.branch3x3.conv.weight": (384, 288, 3, 3),
    "Mixed_6b.branch7x7_2.conv.weight": (128, 128, 1, 7),
    "Mixed_7a.branch7x7x3_4.conv.weight": (192, 192, 3, 3),
    "Mixed_7c.branch3x3dbl_3b.conv.weight": (384, 384, 3, 1),
    "Mixed_7c.branch_pool.conv.weight": (192, 2048, 1, 1),
    "fc.weight": (1008, 2048),
    "fc.bias": (1008,),
}


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random checkpoint saved as the official one is: a plain dict, no ``num_batches_tracked``.

    He-initialised convolutions with identity batch norms keep activations in a sane range.
    """
    torch.manual_seed(0)
    network = FidInceptionV3()
    for module in network.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    state = {k: v for k, v in network.state_dict().items() if not k.endswith("num_batches_tracked")}
    path = tmp_path_factory.mktemp("fid") / FID_WEIGHTS_FILENAME
    torch.save(state, path)
    return path


def _write_images(folder: Path, sizes: list[tuple[int, int]], seed: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for index, (width, height) in enumerate(sizes):
        base = rng.integers(0, 256, size=(1, 1, 3))
        noise = rng.integers(-60, 60, size=(height, width, 3))
        pixels = np.clip(base + noise, 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{index}.png")
    return folder


def test_checkpoint_layout_matches_the_official_file(weights: Path) -> None:
    state = torch.load(weights, weights_only=True)
    assert len(state) == 472  # 94 conv layers x (weight + 4 batch-norm tensors) + classifier
    for key, shape in OFFICIAL_SHAPES.items():
        assert tuple(state[key].shape) == shape, key
    network = load_fid_inception(weights)
    assert not network.training


def test_checkpoint_with_a_wrong_key_is_rejected(weights: Path, tmp_path: Path) -> None:
    state = torch.load(weights, weights_only=True)
    state["Mixed_5b.branch5x5.conv.weight"] = state.pop("Mixed_5b.branch5x5_1.conv.weight")
    torch.save(state, tmp_path / "renamed.pth")
    with pytest.raises(RuntimeError, match="branch5x5"):
        load_fid_inception(tmp_path / "renamed.pth")


def test_feature_shapes_for_every_tap(weights: Path) -> None:
    network = load_fid_inception(weights)
    images = torch.randint(0, 256, (1, 3, 40, 56), dtype=torch.uint8)
    for dims in FEATURE_DIMS:
        features = FidFeatureExtractor(network, "torch-fidelity", dims)(images)
        assert features.shape == (1, dims)
        assert torch.isfinite(features).all() and features.abs().sum() > 0


def test_extractor_rejects_float_images(weights: Path) -> None:
    extractor = FidFeatureExtractor(load_fid_inception(weights), "pytorch-fid", 64)
    with pytest.raises(ValueError, match="uint8"):
        extractor(torch.rand(1, 3, 32, 32))


def test_tf1_resize_samples_without_half_pixel_offset() -> None:
    row = torch.tensor([[[[0.0, 10.0]]]])
    assert resize_bilinear_tf1(row.expand(1, 1, 2, 2), 4)[0, 0, 0].tolist() == [0.0, 5.0, 10.0, 10.0]
    image = torch.rand(1, 3, 7, 7)
    assert torch.equal(resize_bilinear_tf1(image, 7), image)


def test_frechet_distance_of_one_dimensional_gaussians() -> None:
    # (0 - 3)^2 + 4 + 1 - 2 * sqrt(4 * 1)
    distance = frechet_distance(np.array([0.0]), np.array([[4.0]]), np.array([3.0]), np.array([[1.0]]))
    assert distance == pytest.approx(10.0)


def test_frechet_distance_of_diagonal_gaussians() -> None:
    mu1, mu2 = np.array([1.0, 2.0, 3.0]), np.array([0.0, 2.0, 5.0])
    var1, var2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(var1) - np.sqrt(var2)) ** 2)
    assert frechet_distance(mu1, np.diag(var1), mu2, np.diag(var2)) == pytest.approx(expected)


def test_frechet_distance_with_correlated_covariance() -> None:
    # Against the identity, tr sqrt(S) is the sum of the square roots of S's eigenvalues (1 and 3).
    sigma = np.array([[2.0, 1.0], [1.0, 2.0]])
    expected = 2 + 4 - 2 * (1 + math.sqrt(3))
    assert frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), sigma) == pytest.approx(expected)


@pytest.mark.parametrize("protocol", ["pytorch-fid", "torch-fidelity"])
def test_metric_compute_matches_numpy_statistics(weights: Path, protocol: str) -> None:
    rng = np.random.default_rng(3)
    real = rng.normal(0.5, 1.0, size=(200, 64))
    fake = rng.normal(0.0, 1.5, size=(150, 64)) @ rng.normal(0, 0.3, size=(64, 64)) + 0.2
    metric = InceptionFID(weights, protocol=protocol, dims=64)
    # One real update first, as torchmetrics records the feature dtype there; then full-rank sums.
    metric.update(torch.zeros(2, 3, 8, 8, dtype=torch.uint8), real=True)
    for prefix, features in (("real", real), ("fake", fake)):
        tensor = torch.from_numpy(features)
        setattr(metric, f"{prefix}_features_sum", tensor.sum(dim=0))
        setattr(metric, f"{prefix}_features_cov_sum", tensor.T @ tensor)
        setattr(metric, f"{prefix}_features_num_samples", torch.tensor(len(features)))
    expected = frechet_distance(real.mean(0), np.cov(real, rowvar=False), fake.mean(0), np.cov(fake, rowvar=False))
    assert float(metric.compute()) == pytest.approx(expected, rel=1e-6)
    assert metric.describe() == {"metric": "fid", "protocol": protocol, "dims": 64, "weights": FID_WEIGHTS_FILENAME}


@pytest.mark.parametrize("protocol", ["pytorch-fid", "torch-fidelity"])
def test_identical_folders_score_zero(weights: Path, tmp_path: Path, protocol: str) -> None:
    folder = _write_images(tmp_path / "set", [(48, 40), (48, 40), (64, 64), (48, 40)], seed=1)
    assert abs(compute_fid(folder, folder, weights, protocol=protocol, dims=64)) < 1e-3


def test_protocols_resize_differently(weights: Path, tmp_path: Path) -> None:
    real = _write_images(tmp_path / "real", [(50, 38)] * 3, seed=1)
    generated = _write_images(tmp_path / "generated", [(61, 45)] * 3, seed=2)
    by_protocol = {
        protocol: compute_fid(real, generated, weights, protocol=protocol, dims=192)
        for protocol in ("pytorch-fid", "torch-fidelity")
    }
    assert all(value > 0 for value in by_protocol.values())
    assert by_protocol["pytorch-fid"] != pytest.approx(by_protocol["torch-fidelity"], rel=1e-3)


def test_accumulator_takes_batches(weights: Path) -> None:
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(5))
    whole, split = InceptionFID(weights, dims=64), InceptionFID(weights, dims=64)
    whole.update(images, real=True)
    whole.update(images.flip(-1), real=False)
    for half in images.split(2):
        split.update(half, real=True)
    for half in images.flip(-1).split(2):
        split.update(half, real=False)
    assert float(split.compute()) == pytest.approx(float(whole.compute()), rel=1e-6)


def test_missing_weights_name_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(FID_WEIGHTS_ENV, raising=False)
    with pytest.raises(FidWeightsMissing, match=FID_WEIGHTS_FILENAME) as missing:
        compute_fid(tmp_path, tmp_path, tmp_path / "absent.pth")
    assert str(tmp_path / "absent.pth") in str(missing.value)
    with pytest.raises(FidWeightsMissing, match=FID_WEIGHTS_ENV):
        InceptionFID(None)


def test_weights_found_through_the_environment(weights: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FID_WEIGHTS_ENV, str(weights.parent))
    assert InceptionFID(None, dims=64).describe()["weights"] == FID_WEIGHTS_FILENAME


def test_each_protocol_lists_the_files_its_reference_reads(tmp_path: Path) -> None:
    for name in ("a.png", "b.PNG", "c.bmp", "d.jpeg", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub.png").mkdir()
    assert [p.name for p in list_fid_images(tmp_path, "pytorch-fid")] == ["a.png", "c.bmp", "d.jpeg"]
    assert [p.name for p in list_fid_images(tmp_path, "torch-fidelity")] == ["a.png", "b.PNG", "d.jpeg"]


def test_batches_have_the_reference_size_and_one_image_size_each(tmp_path: Path) -> None:
    folder = _write_images(tmp_path, [(8, 6)] * 30 + [(5, 7)] * 40, seed=0)
    files = [folder / f"{index}.png" for index in range(70)]
    assert [len(b) for b in fid_image_batches(files, "pytorch-fid")] == [30, 20, 20]  # batches of 50
    assert [len(b) for b in fid_image_batches(files, "torch-fidelity")] == [30, 34, 6]  # batches of 64
    first = next(iter(fid_image_batches(files)))
    assert first.dtype == torch.uint8 and first.shape == (30, 3, 6, 8)


def test_unknown_protocol_and_dims_are_rejected(weights: Path) -> None:
    with pytest.raises(ValueError, match="protocol"):
        InceptionFID(weights, protocol="clean-fid")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="dims"):
        InceptionFID(weights, dims=1000)
