"""Forms, invoices and tables in the DocVQA layout.

Questions ask for a field's value (found right of its label) or for a table cell (found at the
crossing of a row and a column), the two kinds of lookup DocVQA is mostly made of.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from PIL import Image, ImageDraw

from bench.render import degrade, font_paths, load_font

SIZE = (800, 1000)
COUNT = 30

TITLES = ["INVOICE", "PURCHASE ORDER", "RECEIPT", "STATEMENT", "DELIVERY NOTE"]
NAMES = ["John Miller", "Maria Lopez", "Wei Chen", "Anna Schmidt", "Omar Haddad", "Lucy Brown", "Ravi Patel", "Emma Stone"]
COMPANIES = ["Acme Corp", "Globex Ltd", "Initech", "Umbrella Inc", "Stark Supplies", "Wayne Foods", "Hooli"]
ITEMS = ["Paper", "Pencils", "Stapler", "Folders", "Markers", "Envelopes", "Notebooks", "Toner", "Labels", "Tape"]


def _money(rng: random.Random) -> str:
    return f"${rng.randint(1, 9)},{rng.randint(0, 999):03d}.{rng.choice(['00', '50', '25', '99'])}"


def _document(rng: random.Random) -> tuple[Image.Image, list[tuple[str, list[str]]]]:
    image = Image.new("RGB", SIZE, (255, 255, 255))
    draw = ImageDraw.Draw(image)
    regular = load_font(font_paths()[0], rng.choice([20, 22, 24]))
    bold = load_font(font_paths()[1 % len(font_paths())], 40)
    title = rng.choice(TITLES)
    company = rng.choice(COMPANIES)
    draw.text((60, 50), company, font=load_font(font_paths()[1 % len(font_paths())], 28), fill=(60, 60, 60))
    draw.text((60, 100), title, font=bold, fill=(0, 0, 0))
    number = str(rng.randint(10000, 99999))
    date = f"{rng.randint(1, 12):02d}/{rng.randint(1, 28):02d}/{rng.randint(1995, 2023)}"
    customer = rng.choice(NAMES)
    total = _money(rng)
    label = {"INVOICE": "Invoice No", "PURCHASE ORDER": "Order No", "RECEIPT": "Receipt No",
             "STATEMENT": "Account No", "DELIVERY NOTE": "Delivery No"}[title]
    fields = [(label, number), ("Date", date), ("Customer", customer)]
    y = 190
    for name, value in fields:
        draw.text((60, y), f"{name}:", font=regular, fill=(0, 0, 0))
        draw.text((260, y), value, font=regular, fill=(0, 0, 0))
        y += 44

    rows = rng.sample(ITEMS, rng.randint(3, 5))
    quantities = {item: str(rng.randint(1, 60)) for item in rows}
    top = y + 30
    columns = (60, 360, 520)
    draw.rectangle((50, top, 750, top + 44 * (len(rows) + 1)), outline=(0, 0, 0), width=2)
    for x, header in zip(columns, ("Item", "Qty", "Unit Price")):
        draw.text((x, top + 10), header, font=regular, fill=(0, 0, 0))
    for row, item in enumerate(rows, start=1):
        ry = top + 44 * row
        draw.line((50, ry, 750, ry), fill=(0, 0, 0), width=1)
        draw.text((columns[0], ry + 10), item, font=regular, fill=(0, 0, 0))
        draw.text((columns[1], ry + 10), quantities[item], font=regular, fill=(0, 0, 0))
        draw.text((columns[2], ry + 10), f"${rng.randint(1, 99)}.{rng.choice(['00', '50', '95'])}", font=regular, fill=(0, 0, 0))
    y = top + 44 * (len(rows) + 1) + 40
    draw.text((420, y), "Total:", font=regular, fill=(0, 0, 0))
    draw.text((560, y), total, font=regular, fill=(0, 0, 0))
    draw.text((60, SIZE[1] - 80), "Thank you for your business.", font=regular, fill=(90, 90, 90))

    asked_item = rng.choice(rows)
    field_questions: list[tuple[str, list[str]]] = [
        (f"What is the {label.lower().replace(' no', ' number')}?", [number]),
        ("What is the date?", [date]),
        ("Who is the customer?", [customer]),
        ("What is the total amount?", [total, total.lstrip("$")]),
    ]
    table_question = (f"What is the quantity of {asked_item.lower()}?", [quantities[asked_item]])
    questions = [rng.choice(field_questions), table_question]
    return image, questions


def generate(folder: Path, seed: int = 0) -> None:
    documents = folder / "documents"
    documents.mkdir(parents=True, exist_ok=True)
    entries = []
    question_id = 0
    for index in range(COUNT):
        rng = random.Random(f"starter-docvqa:{seed}:{index}")
        image, questions = _document(rng)
        image = degrade(image, rng, blur=rng.choice([0, 0, 0.5]), noise=rng.choice([0, 2, 4]))
        name = f"documents/starter_doc_{index:03d}.png"
        image.save(folder / name)
        for question, answers in questions:
            entries.append(
                {
                    "questionId": question_id,
                    "question": question,
                    "question_types": ["form"] if "quantity" not in question else ["table/list"],
                    "image": name,
                    "docId": index,
                    "ucsf_document_id": f"starter{index:03d}",
                    "ucsf_document_page_no": "1",
                    "answers": answers,
                    "data_split": "val",
                }
            )
            question_id += 1
    payload = {"dataset_name": "docvqa", "dataset_split": "val", "dataset_version": "1.0", "data": entries}
    (folder / "val_v1.0.json").write_text(json.dumps(payload, indent=1), encoding="utf-8")
