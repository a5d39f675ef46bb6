"""Text-to-image prompts in the MARIO-Eval layout, with reference images for FID.

Keywords are in single quotes, as in MARIO-Eval; the reference images show the keywords on
varied backgrounds, standing in for the benchmark's real photographs.
"""

from __future__ import annotations

import random
from pathlib import Path

from bench.render import draw_text, fit_font, font_paths, textured_background

SUBSET = "StarterEval"
COUNT = 30
WORDS = ["Summer", "Sale", "Coffee", "Open", "Dream", "Happy", "Garden", "Music", "Ocean", "River", "Winter",
         "Market", "Pizza", "Travel", "Forest", "Sunset", "Planet", "Rocket", "Friends", "Bakery", "Jazz", "Night",
         "Coast", "Spring", "Fresh", "Books", "Cinema", "Festival"]
TEMPLATES = [
    "A poster with the words {quoted} in bold letters",
    "A storefront sign that reads {quoted}",
    "A book cover titled {quoted}",
    "A T-shirt printed with {quoted}",
    "A coffee mug with the text {quoted} on it",
    "A neon sign saying {quoted} on a brick wall",
]


def generate(folder: Path, seed: int = 0) -> None:
    subset = folder / SUBSET
    (subset / "images").mkdir(parents=True, exist_ok=True)
    prompts = []
    for index in range(COUNT):
        rng = random.Random(f"starter-t2i:{seed}:{index}")
        words = rng.sample(WORDS, rng.choice([1, 1, 2, 2, 3]))
        quoted = " ".join(f"'{word}'" for word in words)
        prompts.append(rng.choice(TEMPLATES).format(quoted=quoted))
        reference = textured_background(rng, (512, 512))
        y = 60
        for word in words:
            font = fit_font(rng.choice(font_paths()), word, 400, 120)
            draw_text(reference, (56, y), word, font, (rng.randint(0, 60),) * 3)
            y += 150
        reference.save(subset / "images" / f"{index}.jpg", quality=92)
    (subset / f"{SUBSET}.txt").write_text("\n".join(prompts) + "\n", encoding="utf-8")
