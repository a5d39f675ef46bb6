"""AnyText's line-crop geometry: hand-derived values on coordinate ramps, and agreement with
torch's own ``affine_grid``/``grid_sample``/``interpolate``, which the official code calls."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from bench.ocr.crop import (
    CROP_HEIGHT,
    CROP_WIDTH,
    image_array,
    line_crops,
    normalize_line_crop,
    polygon_mask,
    rectify_polygon,
    similarity_transform,
    text_box,
)

SIZE = 256


def ramp_image() -> np.ndarray:
    """Red is the column index, green the row index, blue constant: a crop's pixel values tell
    where it was sampled."""
    columns, rows = np.meshgrid(np.arange(SIZE, dtype=np.float32), np.arange(SIZE, dtype=np.float32))
    return np.stack([columns, rows, np.full_like(columns, 7)], axis=-1)


def test_box_corners_are_ordered():
    mask = polygon_mask(SIZE, SIZE, [(200, 140), (40, 140), (40, 100), (200, 100)])  # any vertex order
    assert text_box(mask).tolist() == [[40, 100], [200, 100], [200, 140], [40, 140]]
    assert text_box(np.zeros((SIZE, SIZE), np.uint8)).tolist() == [[0, 0], [100, 0], [100, 100], [0, 100]]


def test_similarity_transform_recovers_a_known_one():
    angle, scale, shift = math.radians(30), 1.5, np.array([12.0, -4.0])
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    source = np.array([[0, 0], [10, 0], [10, 4], [0, 4]], dtype=np.float64)
    target = source @ (scale * rotation).T + shift
    transform = similarity_transform(source, target)
    assert transform[:2, :2] == pytest.approx(scale * rotation, abs=1e-9)
    assert transform[:2, 2] == pytest.approx(shift, abs=1e-9)


def test_axis_aligned_crop_samples_where_the_official_grid_does():
    """The official code maps pixels to unit coordinates with 2x/W - 1 but samples with
    align_corners=True, so output column i reads source column i + x0 (W - 1) / W."""
    x0, y0, x1, y1 = 40, 100, 200, 140
    crop = rectify_polygon(ramp_image(), [(x0, y0), (x1, y0), (x1, y1), (x0, y1)])
    assert crop.shape == (y1 - y0, x1 - x0, 3)
    shift_x, shift_y = x0 * (SIZE - 1) / SIZE, y0 * (SIZE - 1) / SIZE
    assert crop[0, :, 0] == pytest.approx(np.arange(x1 - x0) + shift_x, abs=1e-3)
    assert crop[:, 0, 1] == pytest.approx(np.arange(y1 - y0) + shift_y, abs=1e-3)
    assert crop[..., 2] == pytest.approx(7.0, abs=1e-4)


def test_vertical_line_is_turned_anticlockwise_and_padded():
    x0, y0, x1, y1 = 100, 20, 130, 200  # 30 wide, 180 tall
    crop = rectify_polygon(ramp_image(), [(x0, y0), (x1, y0), (x1, y1), (x0, y1)])
    final = np.asarray(normalize_line_crop(crop)).astype(np.float64)
    assert final.shape == (CROP_HEIGHT, CROP_WIDTH, 3)
    resized = math.ceil(CROP_HEIGHT * 180 / 30)  # 288 of 320 columns hold the line
    assert resized == 288 and (final[:, resized:] == 0).all() and (final[:, resized - 1] > 0).all()
    shift_x, shift_y = x0 * (SIZE - 1) / SIZE, y0 * (SIZE - 1) / SIZE
    # turned anticlockwise: the top row comes from the crop's right edge
    assert final[0, 0, 0] == pytest.approx(29 + shift_x, abs=1)
    assert final[-1, 0, 0] == pytest.approx(shift_x, abs=1)
    assert final[0, 0, 1] == pytest.approx(shift_y, abs=1)
    assert final[0, resized - 1, 1] == pytest.approx(179 + shift_y, abs=1)


def test_wide_line_fills_the_width():
    crop = np.full((20, 400, 3), 100, dtype=np.float32)
    final = np.asarray(normalize_line_crop(crop))
    assert final.shape == (48, 320, 3) and (final == 100).all()


def test_line_outside_the_image_gives_a_black_input():
    pixels = ramp_image()
    crop = rectify_polygon(pixels, [(5, 5), (5, 5), (5, 5)])  # a single pixel: no width
    assert crop.shape[0] * crop.shape[1] == 0
    assert not np.asarray(normalize_line_crop(crop)).any()


def _torch_reference(pixels: np.ndarray, polygon) -> torch.Tensor:
    """The official resampling written with torch on the whole image, then sliced."""
    height, width = pixels.shape[:2]
    box = text_box(polygon_mask(height, width, polygon)).astype(np.float32)
    crop_width = max(np.linalg.norm(box[0] - box[1]), np.linalg.norm(box[2] - box[3]))
    crop_height = max(np.linalg.norm(box[0] - box[3]), np.linalg.norm(box[1] - box[2]))
    upright = np.float32([[0, 0], [crop_width, 0], [crop_width, crop_height], [0, crop_height]])
    to_unit = np.array([[2 / width, 0, -1], [0, 2 / height, -1], [0, 0, 1]])
    theta = np.linalg.inv(to_unit @ similarity_transform(box, upright) @ np.linalg.inv(to_unit))
    theta = torch.from_numpy(theta[:2]).unsqueeze(0).float()
    image = torch.from_numpy(pixels).permute(2, 0, 1)
    grid = F.affine_grid(theta, torch.Size([1, 3, height, width]), align_corners=True)
    result = F.grid_sample(image.unsqueeze(0), grid, align_corners=True).squeeze(0).clamp(0, 255)
    return result[:, : int(crop_height), : int(crop_width)]


def test_agrees_with_torch_on_turned_polygons():
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, (SIZE, SIZE, 3)).astype(np.float32)
    for _ in range(25):
        centre = rng.uniform(20, SIZE - 20, 2)
        width, height = rng.uniform(8, 200), rng.uniform(8, 60)
        angle = rng.uniform(-1.5, 1.5)
        corners = np.array([[-width, -height], [width, -height], [width, height], [-width, height]]) / 2
        rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        polygon = np.round(corners @ rotation.T + centre).astype(int).tolist()
        ours = rectify_polygon(pixels, polygon)
        reference = _torch_reference(pixels, polygon).permute(1, 2, 0).numpy()
        assert ours.shape == reference.shape
        # sample positions agree to float32 rounding (~1e-5 px): a hundredth of a grey level on noise
        assert np.abs(ours - reference).max() < 0.01
        if ours.size:
            resized = np.asarray(normalize_line_crop(ours)).astype(np.float64)
            tensor = torch.from_numpy(reference).permute(2, 0, 1)
            if tensor.shape[1] > tensor.shape[2] * 1.2:
                tensor = tensor.transpose(1, 2).flip(dims=[1])
            h, w = tensor.shape[1:]
            target_w = min(CROP_WIDTH, math.ceil(CROP_HEIGHT * w / h))
            expected = F.interpolate(tensor[None], size=(CROP_HEIGHT, target_w), mode="bilinear", align_corners=True)[0]
            assert np.abs(resized[:, :target_w] - expected.permute(1, 2, 0).numpy()).max() <= 0.51
            assert not resized[:, target_w:].any()


def test_line_crops_reads_each_polygon_of_an_image():
    image = Image.fromarray(ramp_image().astype(np.uint8))
    crops = line_crops(image, [[(10, 10), (110, 10), (110, 40), (10, 40)], [(50, 60), (90, 60), (90, 200), (50, 200)]])
    assert [crop.size for crop in crops] == [(320, 48), (320, 48)]
    assert image_array(image).dtype == np.float32
