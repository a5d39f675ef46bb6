"""Text-editing items in the AnyText-benchmark layout: a scene with text on boards, and for
some boards a new text to write in place of the old one."""

from __future__ import annotations

import json
import random
from pathlib import Path

from PIL import ImageDraw

from bench.render import PALETTE_DARK, PALETTE_LIGHT, draw_text, fit_font, font_paths, textured_background

SUBSET = "starter_word"
COUNT = 30
SIZE = (512, 512)
OLD = ["Hello", "Closed", "Tea", "Office", "Garage", "Hotel", "Lobby", "Menu"]
NEW = ["Bakery", "Coffee", "Market", "Garden", "Music", "Books", "Pizza", "Travel", "Sunset", "Ocean", "Jazz",
       "Cinema", "Forest", "Harbor", "Museum", "Winter", "Summer", "Fresh", "Planet", "Rocket"]


def generate(folder: Path, seed: int = 0) -> None:
    subset = folder / SUBSET
    (subset / "imgs").mkdir(parents=True, exist_ok=True)
    items = []
    for index in range(COUNT):
        rng = random.Random(f"starter-edit:{seed}:{index}")
        image = textured_background(rng, SIZE)
        draw = ImageDraw.Draw(image)
        annotations = []
        boards = rng.choice([1, 1, 2])
        for board in range(boards):
            top = 70 + board * 220 + rng.randint(0, 40)
            box = (rng.randint(30, 80), top, rng.randint(420, 480), top + rng.randint(100, 130))
            fill, ink = rng.choice(PALETTE_LIGHT), rng.choice(PALETTE_DARK)
            draw.rectangle(box, fill=fill)
            old = rng.choice(OLD)
            font = fit_font(rng.choice(font_paths()), old, (box[2] - box[0]) * 0.8, (box[3] - box[1]) * 0.7)
            left, top_ink, right, bottom = font.getbbox(old)
            draw_text(image, (box[0] + 20, box[1] + (box[3] - box[1] - (bottom - top_ink)) / 2), old, font, ink)
            polygon = [[box[0] + 6, box[1] + 6], [box[2] - 6, box[1] + 6], [box[2] - 6, box[3] - 6], [box[0] + 6, box[3] - 6]]
            annotations.append({"polygon": polygon, "text": rng.choice(NEW), "pos": [], "valid": True, "language": "Latin"})
        name = f"starter_{index:04d}.jpg"
        image.save(subset / "imgs" / name, quality=95)
        texts = " and ".join(f'"{a["text"]}"' for a in annotations)
        items.append({"img_name": name, "caption": f"a sign board that reads {texts}", "annotations": annotations})
    payload = {"data_root": "imgs", "data_list": items}
    (subset / "test1k.json").write_text(json.dumps(payload, indent=1), encoding="utf-8")
