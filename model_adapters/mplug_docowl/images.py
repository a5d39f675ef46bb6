"""Shape-adaptive cropping as the release's ``DocProcessor`` does it (``grid_9`` anchors, the
global image first, textual crop indicators), and the user turn it writes for one image.

An anchor is a grid of (rows, cols) crops of ``size`` pixels. The chosen one maximises
``100 * shape_iou + iou``: ``shape_iou`` compares the anchor with a box of the image's aspect
at the anchor's width, ``iou`` compares it with the image at its own resolution. The release
computes them on integer boxes (the aspect box's height truncated to an integer) with a
1e-5 guard in the float32 division; so does this code, since near-ties decide the grid.
The image is then resized (bicubic) to the grid and cut row by row; the whole image resized
to one crop comes first.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from PIL import Image

#: (rows, cols) of ``grid_9`` in the release's order; ties go to the first.
GRID_9: tuple[tuple[int, int], ...] = (
    (1, 1), (1, 2), (2, 1), (1, 3), (3, 1), (2, 2), (1, 4), (4, 1), (1, 5), (5, 1), (1, 6), (6, 1), (2, 3), (3, 2),
    (1, 7), (7, 1), (4, 2), (2, 4), (1, 8), (8, 1), (3, 3), (1, 9), (9, 1),
)
MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)
IMAGE_TOKEN = "<|image|>"


@dataclass(frozen=True)
class Crops:
    """``pixels`` (rows * cols + 1 or rows * cols, 3, size, size): the global view when there
    is one, then the crops row by row."""

    pixels: torch.Tensor
    grid: tuple[int, int]
    global_view: bool = True

    @property
    def positions(self) -> list[tuple[int, int]]:
        rows, cols = self.grid
        return [(r, c) for r in range(rows) for c in range(cols)]

    def placeholder(self) -> str:
        """The image's part of the user turn: ``<global_img><|image|>`` then
        ``<crop_img_row{r}_col{c}><|image|>`` for each crop."""
        crops = "".join(f"<crop_img_row{r}_col{c}>{IMAGE_TOKEN}" for r, c in self.positions)
        return f"<global_img>{IMAGE_TOKEN}{crops}" if self.global_view else crops


def _iou(boxes: torch.Tensor, areas: torch.Tensor, others: torch.Tensor) -> torch.Tensor:
    """(N, M) intersection over union of integer ``x1 y1 x2 y2`` boxes, as the release computes it."""
    other_areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    top_left = torch.max(boxes[:, None, :2], others[:, :2])
    bottom_right = torch.min(boxes[:, None, 2:], others[:, 2:])
    extent = (bottom_right - top_left).clamp(min=0)
    inter = extent[:, :, 0] * extent[:, :, 1]
    union = areas[:, None] + other_areas - inter
    return inter / (union + 1e-5)


def select_grid(width: int, height: int, size: int, anchors: tuple[tuple[int, int], ...] = GRID_9) -> int:
    """Index into ``anchors`` of the grid chosen for a ``width`` x ``height`` image."""
    boxes = torch.tensor([[0, 0, cols * size, rows * size] for rows, cols in anchors])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    image = torch.tensor([[0, 0, width, height]])
    iou = _iou(boxes, areas, image).squeeze(1)
    aspect = boxes.clone()
    aspect[:, 3] = height / width * boxes[:, 2]
    shape_iou = _iou(boxes, areas, aspect).diag()
    return int(torch.argmax(shape_iou * 100 + iou, dim=0))


def to_tensor(image: Image.Image) -> torch.Tensor:
    """uint8 RGB to float (3, H, W) in [0, 1], normalised with CLIP's mean and std."""
    pixels = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8).view(image.height, image.width, 3)
    pixels = pixels.permute(2, 0, 1).float().div(255)
    return pixels.sub(torch.tensor(MEAN)[:, None, None]).div(torch.tensor(STD)[:, None, None])


def crop(image: Image.Image, size: int, global_view: bool = True, anchors: tuple[tuple[int, int], ...] = GRID_9) -> Crops:
    """``global_view``: the release's ``add_global_img`` (on for its benchmark evaluation, off
    for its text localization evaluation, ``docowl_doclocal4k_evaluate.py``)."""
    image = image.convert("RGB")
    rows, cols = anchors[select_grid(image.width, image.height, size, anchors)]
    grid = to_tensor(image.resize((cols * size, rows * size), Image.Resampling.BICUBIC))
    pieces = grid.unflatten(1, (rows, size)).unflatten(3, (cols, size)).permute(1, 3, 0, 2, 4).reshape(rows * cols, 3, size, size)
    if global_view:
        pieces = torch.cat([to_tensor(image.resize((size, size), Image.Resampling.BICUBIC))[None], pieces])
    return Crops(pieces, (rows, cols), global_view)


def user_turn(parts: list[str | None], crops: list[Crops]) -> str:
    """The release's processor text: each image (``None``) replaced by its placeholder."""
    images = iter(crops)
    return "".join(next(images).placeholder() if part is None else part for part in parts)


def conversation(user: str) -> str:
    """The ``mplug_owl2`` template (``SeparatorStyle.TWO_NO_SYS``: no system text, roles
    ``USER``/``ASSISTANT``, ``" "`` after the user turn), open for the assistant."""
    return f"USER: {user} ASSISTANT:"
