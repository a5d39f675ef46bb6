"""Converters from word-level OCR ground truth (ICDAR2015, Total-Text, MARIO-10M) to the
grounding task's JSONL, checked through the task that reads it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from bench.context import TaskContext
from bench.task import TASKS, DatasetError
from tasks.grounding_convert import (
    convert_main,
    grounding_entries,
    icdar2015_images,
    mario_images,
    read_icdar2015,
    read_totaltext,
    totaltext_images,
)


def _image(path: Path, size: tuple[int, int]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (128, 128, 128)).save(path)
    return path


def _load(folder: Path):
    return TASKS.get("grounding").from_args({"data_dir": str(folder)}, TaskContext(data_root=Path("/nonexistent"))).load_samples()


ICDAR_GT = (
    "\ufeff377,117,463,117,465,130,378,130,Genaxis Theatre\n"
    "493,115,519,115,519,131,493,131,[06]\n"
    "374,155,409,155,409,170,374,170,###\n"
    "10,20,40,20,40,30,10,30,EXIT\n"
    "50,20,80,20,80,30,50,30,exit\n"
    "5,50,30,48,31,60,6,62,a,b\n"
    "1,1,5,1,5,5,1,5,!!\n"
)


def test_icdar2015(tmp_path: Path) -> None:
    _image(tmp_path / "ch4_test_images" / "img_1.jpg", (640, 360))
    (tmp_path / "gt").mkdir()
    (tmp_path / "gt" / "gt_img_1.txt").write_text(ICDAR_GT, encoding="utf-8")
    words = read_icdar2015(tmp_path / "gt" / "gt_img_1.txt")
    assert [w.text for w in words] == ["Genaxis Theatre", "[06]", "###", "EXIT", "exit", "a,b", "!!"]
    assert [w.ignore for w in words] == [False, False, True, False, False, False, False]
    assert words[5].polygon == ((5, 50), (30, 48), (31, 60), (6, 62))

    output = tmp_path / "out"
    assert convert_main(["--format", "icdar2015", "--images", str(tmp_path / "ch4_test_images"),
                         "--annotations", str(tmp_path / "gt"), "--output", str(output)]) == 0
    lines = [json.loads(l) for l in (output / "annotations.jsonl").read_text().splitlines()]
    # "###" is don't care, "EXIT"/"exit" occur twice, "!!" has no letter or digit.
    assert [(l["id"], l["text"]) for l in lines] == [("img_1-0", "Genaxis Theatre"), ("img_1-1", "[06]"), ("img_1-5", "a,b")]
    assert lines[2]["box"] == [5, 48, 31, 62] and lines[2]["image_size"] == [640, 360]
    assert lines[0]["image"] == "images/img_1.jpg"  # a link to the source image, inside the output
    assert (output / "images" / "img_1.jpg").resolve() == (tmp_path / "ch4_test_images" / "img_1.jpg").resolve()
    task = TASKS.get("grounding").from_args({"data_dir": str(output)}, TaskContext(data_root=Path("/nonexistent")))
    assert len(task.dataset_fingerprint()) == 16
    samples = task.load_samples()
    assert samples[2].box == (5, 48, 31, 62) and samples[2].polygon == ((5, 50), (30, 48), (31, 60), (6, 62))
    assert samples[0].image.resolve() == (tmp_path / "ch4_test_images" / "img_1.jpg").resolve()


TOTALTEXT_GT = (
    "x: [[115 503 494 115]], y: [[322 346 426 404]], ornt: [u'm'], transcriptions: [u'nauGHTY']\n"
    "x: [[562 595 651 687\n"
    "  653 637 604 588]], y: [[347 304 305 360 366 334 332 361]], ornt: [u'c'], transcriptions: [u\"Joe's\"]\n"
    "x: [[603 632 630 603]], y: [[408 413 426 423]], ornt: [u'#'], transcriptions: [u'#']\n"
)


def test_totaltext(tmp_path: Path) -> None:
    _image(tmp_path / "Images" / "Test" / "img11.jpg", (800, 600))
    gt = tmp_path / "Groundtruth" / "Polygon" / "Test"
    gt.mkdir(parents=True)
    (gt / "poly_gt_img11.txt").write_text(TOTALTEXT_GT, encoding="utf-8")
    words = read_totaltext(gt / "poly_gt_img11.txt")
    assert [(w.text, w.ignore, len(w.polygon)) for w in words] == [("nauGHTY", False, 4), ("Joe's", False, 8), ("#", True, 4)]
    assert words[1].polygon[4] == (653, 366)
    entries = grounding_entries(totaltext_images(tmp_path / "Images" / "Test", gt))
    assert [(e["text"], e["box"]) for e in entries] == [("nauGHTY", [115, 322, 503, 426]), ("Joe's", [562, 304, 687, 366])]


def test_totaltext_malformed_record(tmp_path: Path) -> None:
    (tmp_path / "poly_gt_img1.txt").write_text("x: [[1 2 3]], y: [[1 2]], ornt: [u'h'], transcriptions: [u'a']\n")
    with pytest.raises(DatasetError, match=r"poly_gt_img1\.txt:1: x and y must list the same number"):
        read_totaltext(tmp_path / "poly_gt_img1.txt")


def test_mario(tmp_path: Path) -> None:
    root = tmp_path / "mario-laion"
    sample = root / "06269" / "062692530"
    _image(sample / "image.jpg", (256, 256))
    (sample / "ocr.txt").write_text(
        "FAMILIA 185,376,186,277,437,283,436,382 0.99\nLITTLE 37,231,40,119,243,129,241,240 0.99\n", encoding="utf-8"
    )
    other = root / "27197" / "271975251"
    _image(other / "image.jpg", (512, 512))
    (other / "ocr.txt").write_text("JOE 257,236,261,105,393,113,389,244 0.99\n", encoding="utf-8")
    (root / "06269" / "062692999").mkdir()
    (root / "06269" / "062692999" / "ocr.txt").write_text("NOIMAGE 1,1,2,1,2,2,1,2 0.9\n")

    images = mario_images(root)
    assert [i.key for i in images] == ["06269_062692530", "27197_271975251"]
    # Coordinates are in the 512x512 frame; this image is 256x256, so they halve.
    assert images[0].words[0].polygon == ((92.5, 188), (93, 138.5), (218.5, 141.5), (218, 191))
    index = tmp_path / "test-index.txt"
    index.write_text("27197_271975251\n")
    assert convert_main(["--format", "mario", "--annotations", str(root), "--index-file", str(index),
                         "--output", str(tmp_path / "out")]) == 0
    samples = _load(tmp_path / "out")
    assert [(s.id, s.text, s.box) for s in samples] == [("27197_271975251-0", "JOE", (257, 105, 393, 244))]


def test_missing_ground_truth_is_named(tmp_path: Path) -> None:
    _image(tmp_path / "images" / "img_7.jpg", (10, 10))
    (tmp_path / "gt").mkdir()
    with pytest.raises(DatasetError, match=r"no ground truth for .*img_7\.jpg: looked for .*gt_img_7\.txt"):
        icdar2015_images(tmp_path / "images", tmp_path / "gt")
    (tmp_path / "gt" / "gt_img_7.txt").write_text("1,2,3,4,EXIT\n")
    with pytest.raises(DatasetError, match=r"gt_img_7\.txt:1: expected x1,y1,x2,y2,x3,y3,x4,y4,transcription"):
        icdar2015_images(tmp_path / "images", tmp_path / "gt")
