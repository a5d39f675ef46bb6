"""Prompts with ``<image>`` marks, split where the images go."""

from __future__ import annotations

from bench.types import IMAGE_PLACEHOLDER


def prompt_parts(prompt: str, image_count: int) -> list[str | None]:
    """Split a prompt at its ``<image>`` marks: the text pieces in order, ``None`` for each
    image. Images the prompt does not place go first, the usual position for single-image
    models. Empty text pieces are left out.
    """
    pieces = prompt.split(IMAGE_PLACEHOLDER)
    marks = len(pieces) - 1
    if marks > image_count:
        raise ValueError(f"the prompt places {marks} images but the request has {image_count}")
    parts: list[str | None] = [None] * (image_count - marks)
    for index, piece in enumerate(pieces):
        if index:
            parts.append(None)
        if piece:
            parts.append(piece)
    return parts
