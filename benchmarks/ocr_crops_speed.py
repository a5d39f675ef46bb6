"""Line-crop recognition speed, the inner loop of AnyText-benchmark scoring.

Builds 512x512 images with 1-4 rendered text lines each (some turned, some vertical), cuts
every line out as AnyText's evaluation does (``bench.ocr.line_crops``) and recognises the crops
with one OCR engine, two ways:

* batched: all crops of all images in one ``read_crops`` call, as ``anytext-generate`` scores;
* one crop at a time: ``read_crops([crop])`` per crop, as the official script calls its
  recogniser (``rec_batch_num = 1``).

It prints crops per second for cutting, for each recognition mode and end to end, and the
agreement of the two modes' readings. The exit status is 1 when batched end-to-end throughput
is below 40 crops/s (the target on two CPU cores).

Run::

    .venv/bin/python benchmarks/ocr_crops_speed.py [--engine rapidocr] [--images 40]
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import time

from PIL import Image, ImageDraw

from bench.context import TaskContext
from bench.ocr.crop import line_crops
from bench.options import parse_key_values
from bench.render import fit_font, font_paths

TARGET_CROPS_PER_S = 40.0
WORDS = ["Coffee", "OPEN", "Summer Sale", "Market", "Jazz Night", "Fresh Bread", "Hotel", "2024", "Cinema",
         "Garden Party", "Books", "EXIT", "Museum", "Pizza & Pasta", "River", "Welcome"]


def make_workload(count: int, seed: int = 7) -> list[tuple[Image.Image, list[list[tuple[float, float]]], list[str]]]:
    """Images with their line polygons and texts; lines are turned by up to 12 degrees, and
    about one in seven is vertical (written top to bottom)."""
    rng = random.Random(seed)
    fonts = font_paths()
    items = []
    for _ in range(count):
        image = Image.new("RGB", (512, 512), tuple(rng.randint(200, 255) for _ in range(3)))
        polygons, texts = [], []
        left_column = 10
        for row in range(rng.randint(1, 4)):
            text = rng.choice(WORDS)
            vertical = rng.random() < 0.15
            font = fit_font(rng.choice(fonts), text, 150 if vertical else rng.randint(160, 300), rng.randint(34, 56))
            box_left, box_top, box_right, box_bottom = font.getbbox(text)
            width, height = box_right - box_left + 12, box_bottom - box_top + 12
            layer = Image.new("L", (width, height), 0)
            ImageDraw.Draw(layer).text((6 - box_left, 6 - box_top), text, font=font, fill=255)
            angle = -90.0 if vertical else rng.uniform(-12, 12)
            turned = layer.rotate(angle, expand=True, resample=Image.Resampling.BICUBIC)
            if vertical:
                left, top = 512 - turned.width - 10, 10
            else:
                left, top = left_column, 10 + row * 120
            image.paste(Image.new("RGB", turned.size, (20, 20, 20)), (left, top), turned)
            centre_x, centre_y = left + turned.width / 2, top + turned.height / 2
            cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))
            corners = [(-width / 2, -height / 2), (width / 2, -height / 2), (width / 2, height / 2), (-width / 2, height / 2)]
            polygons.append([(centre_x + x * cos + y * sin, centre_y - x * sin + y * cos) for x, y in corners])
            texts.append(text)
        items.append((image, polygons, texts))
    return items


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", default="rapidocr")
    parser.add_argument("--ocr-args", default="", help="engine options, k=v,... (e.g. threads=1)")
    parser.add_argument("--images", type=int, default=40)
    args = parser.parse_args()

    engine = TaskContext(ocr_engine=args.engine, ocr_options=parse_key_values(args.ocr_args)).ocr()
    workload = make_workload(args.images)
    engine.read_crops(line_crops(workload[0][0], workload[0][1]))  # warm-up: sessions, allocations

    started, cpu = time.perf_counter(), time.process_time()
    crops = [crop for image, polygons, _ in workload for crop in line_crops(image, polygons)]
    cut_s, cut_cpu = time.perf_counter() - started, time.process_time() - cpu
    count = len(crops)

    started, cpu = time.perf_counter(), time.process_time()
    batched = [r.text for r in engine.read_crops(crops)]
    batched_s, batched_cpu = time.perf_counter() - started, time.process_time() - cpu

    started = time.perf_counter()
    single = [engine.read_crops([crop])[0].text for crop in crops]
    single_s = time.perf_counter() - started

    truth = [text for _, _, texts in workload for text in texts]
    end_to_end = count / (cut_s + batched_s)
    print(f"engine: {engine.describe()}")
    print(f"{args.images} images, {count} line crops (48x320)")
    print(f"cutting (AnyText geometry):    {count / cut_s:8.1f} crops/s")
    print(f"recognition, batched:          {count / batched_s:8.1f} crops/s")
    print(f"recognition, one at a time:    {count / single_s:8.1f} crops/s   (batched is {single_s / batched_s:.2f}x faster)")
    print(f"end to end, batched:           {end_to_end:8.1f} crops/s   (target {TARGET_CROPS_PER_S:.0f})")
    print(f"end to end, one at a time:     {count / (cut_s + single_s):8.1f} crops/s")
    print(f"CPU time per crop, batched:    {1000 * cut_cpu / count:.1f} ms cutting + {1000 * batched_cpu / count:.1f} ms recognition (all threads)")
    print(f"machine load average:          {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (wall-clock rates fall when it exceeds the cores)")
    print(f"readings equal between modes:  {sum(a == b for a, b in zip(batched, single))}/{count}")
    print(f"readings equal to the text:    {sum(a == t for a, t in zip(batched, truth))}/{count}")
    return 0 if end_to_end >= TARGET_CROPS_PER_S else 1


if __name__ == "__main__":
    sys.exit(main())
