"""The OCR engines behind ``OcrEngine``: real recognition of rendered text, recorded identity,
and clear errors when an engine's program, package or model folder is missing."""

from __future__ import annotations

import importlib.util
import shutil

import pytest
from PIL import Image, ImageDraw

from bench.context import TaskContext
from bench.ocr.base import OCR_ENGINES
from bench.ocr.crop import line_crops
from bench.ocr.easyocr_engine import DETECTOR_FILE, EasyOcrUnavailable, check_model_dir
from bench.ocr.tesseract import TesseractOptions, TesseractUnavailable
from bench.render import font_paths, load_font

HAS_TESSERACT = shutil.which("tesseract") is not None
needs_tesseract = pytest.mark.skipif(not HAS_TESSERACT, reason="tesseract-ocr is not installed (.ci/run installs it)")


def rendered_line(text: str, size: tuple[int, int] = (420, 90)) -> Image.Image:
    image = Image.new("RGB", size, "white")
    ImageDraw.Draw(image).text((16, 14), text, font=load_font(font_paths()[0], 52), fill="black")
    return image


def page() -> Image.Image:
    image = Image.new("RGB", (640, 360), (235, 235, 225))
    draw = ImageDraw.Draw(image)
    font = load_font(font_paths()[0], 56)
    draw.text((40, 40), "Fresh Coffee", font=font, fill="black")
    draw.text((40, 220), "OPEN", font=font, fill="black")
    return image


def test_engines_are_registered():
    assert {"rapidocr", "tesseract", "easyocr"} <= set(OCR_ENGINES.names())


def test_rapidocr_reads_crops_without_a_page_first():
    engine = TaskContext(ocr_engine="rapidocr", ocr_options={"rec_batch_size": "4"}).ocr()
    image = rendered_line("Bakery", (512, 512))
    crops = line_crops(image, [[(0, 0), (420, 0), (420, 90), (0, 90)]])
    assert [r.text for r in engine.read_crops(crops)] == ["Bakery"]
    described = engine.describe()
    assert described["engine"] == "rapidocr" and "rapidocr 3" in described["version"] and "rec PP-OCR" in described["version"]
    assert described["options"]["rec_batch_size"] == 4


@needs_tesseract
def test_tesseract_reads_pages_and_batches_of_crops():
    engine = TaskContext(ocr_engine="tesseract").ocr()
    lines = engine.read_page(page())
    assert [line.text for line in lines] == ["Fresh Coffee", "OPEN"]
    assert [word.text for word in lines[0].words] == ["Fresh", "Coffee"]
    left, top, right, bottom = lines[1].box
    assert 30 <= left < 60 and 215 <= top < 250 and right > left and 0 < lines[1].confidence <= 1
    blank = Image.new("RGB", (320, 48), "white")  # nothing to read: the pages stay aligned
    readings = engine.read_crops([rendered_line("Market"), blank, rendered_line("Jazz 42")])
    assert [r.text for r in readings] == ["Market", "", "Jazz 42"]
    described = engine.describe()
    assert described["version"].startswith("tesseract ") and described["options"]["line_psm"] == 7


@needs_tesseract
def test_tesseract_names_missing_language_data():
    with pytest.raises(TesseractUnavailable, match="tesseract-ocr-xyz"):
        OCR_ENGINES.get("tesseract")(TesseractOptions(lang="xyz"))


def test_tesseract_names_the_package_when_the_program_is_missing():
    with pytest.raises(TesseractUnavailable, match="apt-get install tesseract-ocr"):
        OCR_ENGINES.get("tesseract")(TesseractOptions(binary="no-such-tesseract-binary"))


def test_easyocr_needs_a_model_folder(tmp_path):
    with pytest.raises(EasyOcrUnavailable, match="model_dir=PATH"):
        TaskContext(ocr_engine="easyocr").ocr()
    with pytest.raises(EasyOcrUnavailable, match="does not exist"):
        TaskContext(ocr_engine="easyocr", ocr_options={"model_dir": str(tmp_path / "absent")}).ocr()
    (tmp_path / DETECTOR_FILE).write_bytes(b"")
    with pytest.raises(EasyOcrUnavailable, match="lacks zh_sim_g2.pth"):
        check_model_dir(tmp_path, ["ch_sim", "en"])


@pytest.mark.skipif(importlib.util.find_spec("easyocr") is not None, reason="easyocr is installed here")
def test_easyocr_names_the_missing_package(tmp_path):
    for name in (DETECTOR_FILE, "english_g2.pth"):
        (tmp_path / name).write_bytes(b"")
    with pytest.raises(EasyOcrUnavailable, match=r"pip install 'thbench\[easyocr\]'"):
        TaskContext(ocr_engine="easyocr", ocr_options={"model_dir": str(tmp_path)}).ocr()
