"""Images with several words scattered over a cluttered background, in the grounding JSONL
layout; each question asks for one of them, the others are distractors."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
from PIL import Image

from bench.render import degrade, draw_text, pick_font, text_size, textured_background

SIZE = (640, 480)
COUNT = 50
WORDS = ["OPEN", "Coffee", "EXIT", "Market", "Hotel", "Garden", "PARK", "Books", "Music", "Bakery", "Station",
         "Museum", "Library", "Pizza", "Taxi", "Bridge", "Harbor", "Cinema", "Theater", "Bank", "Pharmacy", "Florist"]


def _ink_for(background: Image.Image, box: tuple[int, int, int, int]) -> tuple[int, int, int]:
    """Dark ink on light ground and the reverse, so each word stays readable."""
    region = np.asarray(background.crop(box), dtype=np.float32)
    return (15, 15, 15) if region.mean() > 110 else (250, 250, 250)


def _place(rng: random.Random, size: tuple[int, int], taken: list[tuple[int, int, int, int]]) -> tuple[int, int] | None:
    width, height = size
    for _ in range(60):
        x = rng.randint(12, SIZE[0] - width - 12)
        y = rng.randint(12, SIZE[1] - height - 12)
        box = (x - 14, y - 14, x + width + 14, y + height + 14)
        if all(box[2] < t[0] or box[0] > t[2] or box[3] < t[1] or box[1] > t[3] for t in taken):
            taken.append(box)
            return x, y
    return None


def generate(folder: Path, seed: int = 0) -> None:
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    lines = []
    for index in range(COUNT):
        rng = random.Random(f"starter-grounding:{seed}:{index}")
        image = textured_background(rng, SIZE)
        taken: list[tuple[int, int, int, int]] = []
        drawn = []
        for word in rng.sample(WORDS, rng.randint(3, 6)):
            font = pick_font(rng, rng.randint(26, 60))
            position = _place(rng, text_size(font, word), taken)
            if position is None:
                continue
            width, height = text_size(font, word)
            ink = _ink_for(image, (position[0], position[1], position[0] + width, position[1] + height))
            angle = rng.choice([0, 0, 0, rng.uniform(-6, 6)])
            drawn.append(draw_text(image, position, word, font, ink, angle=angle))
        image = degrade(image, rng, blur=rng.choice([0, 0, 0.5]), noise=rng.choice([0, 3]))
        name = f"images/starter{index:04d}.jpg"
        image.save(folder / name, quality=92)
        target = rng.choice(drawn)
        lines.append(
            {
                "id": f"starter{index:04d}",
                "image": name,
                "text": target.text,
                "box": [round(v, 1) for v in target.box],
                "polygon": [list(p) for p in target.polygon],
                "image_size": list(SIZE),
            }
        )
    (folder / "annotations.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
