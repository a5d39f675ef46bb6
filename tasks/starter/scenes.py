"""Scene-text questions in the TextVQA layout: signs, labels, plates, price tags, streets.

Each scene has several texts: the answer, distractors, and in some scenes a more salient text
that is *not* the answer (two signs, a tagline under a brand), so reading all the text is not
enough: a model must also pick the right piece. Ten human-like answers per question
include the case and article variants real annotators write.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from PIL import Image, ImageDraw

from bench.render import PALETTE_DARK, PALETTE_LIGHT, degrade, draw_text, fit_font, font_paths, pick_font, textured_background

SIZE = (640, 480)
COUNT = 50

SHOPS = ["BAKERY", "Coffee House", "Green Market", "Pizza Roma", "Book Nook", "Sunny Cafe", "City Hotel",
         "Flower Shop", "Blue Door", "Pet World", "Taco Town", "Fresh Deli", "Star Diner", "Music Box"]
BRANDS = ["ZENTA", "Moxy", "Nordic", "Vista", "Aurora", "Kappa", "Lumo", "Orbit", "Polar", "Vero", "Mango", "Tundra"]
STREETS = ["Main St", "Oak Ave", "Elm Road", "Park Lane", "High Street", "Mill Road", "Lake Drive", "Pine Way"]
DISTRACTORS = ["OPEN", "since 1998", "WELCOME", "free wifi", "SALE", "new", "EXIT", "daily", "fresh", "organic"]


@dataclass(frozen=True)
class Scene:
    question: str
    answer: str
    #: Other strings annotators would also accept (e.g. a price without its currency sign).
    alternatives: tuple[str, ...]


def human_answers(rng: random.Random, answer: str, alternatives: tuple[str, ...]) -> list[str]:
    """Ten answers: mostly the text as read, some lowercase, some with an article or an
    accepted alternative, and one careless answer, as crowd workers write them."""
    answers = [answer] * 5 + [answer.lower()] * 2
    answers.append(f"the {answer.lower()}" if rng.random() < 0.5 else answer.upper())
    answers.append(rng.choice(alternatives) if alternatives else answer)
    answers.append(rng.choice([answer, answer.split()[0], "unanswerable"]))
    rng.shuffle(answers)
    return answers


def _board(image: Image.Image, rng: random.Random, text: str, box: tuple[int, int, int, int], bold: bool = True) -> None:
    draw = ImageDraw.Draw(image)
    board, ink = rng.choice(PALETTE_LIGHT), rng.choice(PALETTE_DARK)
    if rng.random() < 0.5:
        board, ink = ink, board
    draw.rounded_rectangle(box, radius=rng.randint(0, 18), fill=board, outline=ink, width=rng.randint(0, 4))
    x1, y1, x2, y2 = box
    path = rng.choice([p for p in font_paths() if ("Bold" in p.name) == bold] or list(font_paths()))
    font = fit_font(path, text, (x2 - x1) * 0.85, (y2 - y1) * 0.7, largest=rng.randint(44, 90))
    left, top, right, bottom = font.getbbox(text)
    position = (x1 + (x2 - x1 - (right - left)) / 2, y1 + (y2 - y1 - (bottom - top)) / 2)
    draw_text(image, position, text, font, ink, angle=rng.uniform(-4, 4))


def _distractor(image: Image.Image, rng: random.Random, avoid: tuple[int, int, int, int]) -> None:
    text = rng.choice(DISTRACTORS)
    font = pick_font(rng, rng.randint(16, 26))
    for _ in range(20):
        x, y = rng.randint(10, SIZE[0] - 160), rng.randint(10, SIZE[1] - 40)
        if not (avoid[0] - 150 < x < avoid[2] and avoid[1] - 40 < y < avoid[3]):
            break
    draw_text(image, (x, y), text, font, rng.choice(PALETTE_DARK + PALETTE_LIGHT))


def _shop(image: Image.Image, rng: random.Random) -> Scene:
    name = rng.choice(SHOPS)
    box = (rng.randint(40, 120), rng.randint(40, 160), rng.randint(500, 600), 0)
    box = (box[0], box[1], box[2], box[1] + rng.randint(90, 140))
    _board(image, rng, name, box)
    _distractor(image, rng, box)
    question = rng.choice(["what is the name of the shop?", "what does the sign say?", "what is written on the sign?"])
    return Scene(question, name, (f"{name.lower()} sign",))


def _brand(image: Image.Image, rng: random.Random) -> Scene:
    brand = rng.choice(BRANDS)
    x1 = rng.randint(160, 260)
    box = (x1, rng.randint(60, 120), x1 + rng.randint(200, 280), rng.randint(360, 440))
    draw = ImageDraw.Draw(image)
    draw.rectangle(box, fill=rng.choice(PALETTE_LIGHT), outline=(40, 40, 40), width=3)
    label = (box[0] + 10, box[1] + (box[3] - box[1]) // 3, box[2] - 10, box[1] + (box[3] - box[1]) // 3 + 90)
    _board(image, rng, brand, label)
    small = pick_font(rng, 18)
    draw_text(image, (box[0] + 16, label[3] + 20), rng.choice(["500 ml", "net wt 250g", "natural", "since 1998"]), small, (40, 40, 40))
    question = rng.choice(["what brand is this?", "what is the brand name on the package?", "what brand is shown?"])
    return Scene(question, brand, (brand.lower(),))


def _number(image: Image.Image, rng: random.Random) -> Scene:
    number = str(rng.choice([rng.randint(2, 99), rng.randint(100, 999)]))
    box = (rng.randint(200, 300), rng.randint(120, 200), 0, 0)
    box = (box[0], box[1], box[0] + rng.randint(120, 180), box[1] + rng.randint(100, 140))
    _board(image, rng, number, box)
    _distractor(image, rng, box)
    question = rng.choice(["what number is on the door?", "what number is shown?", "what is the house number?"])
    return Scene(question, number, (f"number {number}",))


def _price(image: Image.Image, rng: random.Random) -> Scene:
    price = f"${rng.randint(1, 49)}.{rng.choice(['99', '49', '50', '25'])}"
    item = rng.choice(BRANDS)
    box = (rng.randint(80, 200), rng.randint(80, 180), 0, 0)
    box = (box[0], box[1], box[0] + rng.randint(240, 320), box[1] + rng.randint(150, 190))
    draw = ImageDraw.Draw(image)
    draw.rectangle(box, fill=(255, 250, 200), outline=(200, 40, 40), width=4)
    font = fit_font(font_paths()[0], item, box[2] - box[0] - 30, 36, largest=34)
    draw_text(image, (box[0] + 15, box[1] + 12), item, font, (40, 40, 40))
    price_font = fit_font(font_paths()[1 % len(font_paths())], price, box[2] - box[0] - 30, 80, largest=80)
    draw_text(image, (box[0] + 15, box[1] + 62), price, price_font, (200, 30, 30))
    question = rng.choice(["how much does it cost?", "what is the price?", "what is the price on the tag?"])
    return Scene(question, price, (price.lstrip("$"), f"{price} dollars"))


def _street(image: Image.Image, rng: random.Random) -> Scene:
    street = rng.choice(STREETS)
    box = (rng.randint(60, 200), rng.randint(60, 200), 0, 0)
    box = (box[0], box[1], box[0] + rng.randint(300, 400), box[1] + rng.randint(80, 110))
    draw = ImageDraw.Draw(image)
    pole_x = (box[0] + box[2]) // 2
    draw.rectangle((pole_x - 6, box[3], pole_x + 6, SIZE[1]), fill=(90, 90, 90))
    ImageDraw.Draw(image).rectangle(box, fill=(20, 110, 50))
    font = fit_font(font_paths()[1 % len(font_paths())], street, (box[2] - box[0]) * 0.85, (box[3] - box[1]) * 0.65)
    left, top, right, bottom = font.getbbox(street)
    origin = (box[0] + (box[2] - box[0] - (right - left)) / 2, box[1] + (box[3] - box[1] - (bottom - top)) / 2)
    draw_text(image, origin, street, font, (250, 250, 250))
    _distractor(image, rng, box)
    question = rng.choice(["what street is this?", "what is the name of the street?"])
    return Scene(question, street, (street.split()[0],))


def _two_signs(image: Image.Image, rng: random.Random) -> Scene:
    """Two boards side by side: reading is not enough, the question picks one by position."""
    left, right = rng.sample(SHOPS, 2)
    top = rng.randint(80, 220)
    _board(image, rng, left, (30, top, 305, top + rng.randint(80, 110)))
    _board(image, rng, right, (335, top, 610, top + rng.randint(80, 110)))
    side = rng.choice(["left", "right"])
    return Scene(f"what does the sign on the {side} say?", left if side == "left" else right, ())


def _tagline(image: Image.Image, rng: random.Random) -> Scene:
    """A small line under a big brand: the salient text is the wrong answer."""
    brand = rng.choice(BRANDS)
    tagline = rng.choice(["fresh daily", "since 1998", "made local", "extra strong", "low sugar", "best value"])
    box = (rng.randint(60, 140), rng.randint(60, 140), rng.randint(480, 580), 0)
    box = (box[0], box[1], box[2], box[1] + rng.randint(100, 130))
    _board(image, rng, brand, box)
    font = fit_font(font_paths()[0], tagline, box[2] - box[0], 34, largest=30)
    draw_text(image, (box[0] + 10, box[3] + 24), tagline, font, (20, 20, 20) if rng.random() < 0.5 else (250, 250, 250))
    question = rng.choice(["what is written under the brand name?", "what does the small text below the logo say?"])
    return Scene(question, tagline, (tagline.split()[0],))


SCENES: tuple[Callable[[Image.Image, random.Random], Scene], ...] = (_shop, _brand, _number, _price, _street, _two_signs, _tagline)


def generate(folder: Path, seed: int = 0) -> None:
    images = folder / "train_images"
    images.mkdir(parents=True, exist_ok=True)
    entries = []
    for index in range(COUNT):
        rng = random.Random(f"starter-textvqa:{seed}:{index}")
        image = textured_background(rng, SIZE)
        scene = SCENES[index % len(SCENES)](image, rng)
        image = degrade(image, rng, blur=rng.choice([0, 0, 0.6, 1.0]), noise=rng.choice([0, 3, 6]))
        image_id = f"starter{index:04d}"
        image.save(images / f"{image_id}.jpg", quality=92)
        entries.append(
            {
                "question": scene.question,
                "image_id": image_id,
                "image_classes": [],
                "flickr_original_url": "",
                "flickr_300k_url": "",
                "image_width": SIZE[0],
                "image_height": SIZE[1],
                "answers": human_answers(rng, scene.answer, scene.alternatives),
                "question_tokens": scene.question.rstrip("?").split(),
                "question_id": index,
                "set_name": "val",
            }
        )
    payload = {"dataset_type": "val", "dataset_name": "textvqa", "dataset_version": "0.5.1", "data": entries}
    (folder / "TextVQA_0.5.1_val.json").write_text(json.dumps(payload, indent=1), encoding="utf-8")
