"""The HTML report: one self-contained file that renders, shows every image and never runs
anything a model wrote. Browser checks drive headless Chromium over the DevTools pipe."""

from __future__ import annotations

import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image

from bench.cli import main
from bench.report.compare import compare_runs
from bench.report.html import comparison_page, runs_page
from bench.report.runs import load_run

#: What a hostile model output tries: change the title, mark the page, and call out.
PAYLOAD = (
    "<script>document.title='PWNED';document.documentElement.setAttribute('data-pwned','script')</script>"
    "<img src=x onerror=\"document.documentElement.setAttribute('data-pwned','onerror')\">"
)

ALL_IMAGES_LOADED = """
Promise.all([...document.images].map(image => image.decode().then(() => true, () => false)))
  .then(decoded => ({count: document.images.length,
                     decoded: decoded.filter(Boolean).length,
                     widths: [...document.images].map(image => image.naturalWidth)}))
"""


@pytest.fixture(scope="module")
def hostile_page(make_run, report_data, tmp_path_factory):
    run_dir = make_run("oracle-injecting", model_args={"inject": PAYLOAD})
    path = tmp_path_factory.mktemp("hostile") / "report.html"
    path.write_text(runs_page([load_run(run_dir)], report_data, worst=6), encoding="utf-8")
    return path


class _Markup(HTMLParser):
    """Every element and attribute the page really contains (text content excluded)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes.extend((name, value or "") for name, value in attrs)


def test_model_output_is_escaped_and_scripts_are_forbidden(hostile_page):
    text = hostile_page.read_text()
    markup = _Markup()
    markup.feed(text)
    assert "script" not in markup.tags
    assert not [name for name, _ in markup.attributes if name.startswith("on")]
    assert all(value.startswith("data:image/jpeg;base64,") for name, value in markup.attributes if name in ("src", "href"))
    assert "&lt;script&gt;document.title=&#x27;PWNED&#x27;" in text
    policy = next(value for name, value in markup.attributes if name == "content" and "default-src" in value)
    assert "default-src 'none'" in policy and "img-src data:" in policy and "script-src" not in policy


def test_page_renders_images_and_runs_no_model_output(hostile_page, chromium):
    chromium.open(hostile_page.as_uri())
    assert chromium.evaluate("document.title") == "thbench report"
    assert chromium.evaluate("document.documentElement.getAttribute('data-pwned')") is None
    assert chromium.evaluate("document.body.innerText.includes(\"<script>document.title='PWNED'\")") is True
    images = chromium.evaluate(ALL_IMAGES_LOADED)
    assert images["count"] == 6 and images["decoded"] == 6  # the six worst samples' inputs
    assert all(width > 0 for width in images["widths"])
    assert chromium.evaluate("document.querySelectorAll('svg.chart').length") >= 1


def test_comparison_page_shows_the_regression_and_changed_samples(make_run, report_data, tmp_path, chromium):
    base = make_run("oracle", model_args={})
    degraded = make_run("oracle-wrong-40", model_args={"wrong_fraction": "0.4"})
    page = tmp_path / "compare.html"
    assert main(["compare", str(base), str(degraded), "--html", str(page), "--data-dir", str(report_data)]) == 1
    chromium.open(page.as_uri())
    assert chromium.evaluate("document.body.innerText.includes('REGRESSION')") is True
    images = chromium.evaluate(ALL_IMAGES_LOADED)
    assert images["count"] == 8 and images["decoded"] == 8  # the eight largest changes, with their inputs
    text = page.read_text()
    assert "1.000 → 0.000" in text
    from bench.report.runs import load_run as read_run

    base_records, new_records = read_run(base).predictions("report-say"), read_run(degraded).predictions("report-say")
    worse = sum(base_records[k].scores["correct"] > new_records[k].scores["correct"] for k in base_records)
    better = sum(base_records[k].scores["correct"] < new_records[k].scores["correct"] for k in base_records)
    assert worse > 0 and (f"8 shown of the {worse + better} samples that changed ({worse} worse, {better} better) "
                          f"among {len(base_records)} shared") in text


def test_generation_gallery_embeds_outputs(make_run, tmp_path):
    run_dir = make_run("painter-wrong-40", model="report-painter", tasks=["report-lines"], model_args={"wrong_fraction": "0.4"})
    text = runs_page([load_run(run_dir)], tmp_path, gallery=4)
    # 4 items × 2 images, worst first: the degraded items (headline 0) lead
    assert text.count('<img src="data:image/jpeg;base64,') == 8
    assert "Gallery: 4 lowest-scoring of 30 samples" in text
    assert text.count("<dt>headline</dt><dd>0.000</dd>") == 4 and "<dt>headline</dt><dd>1.000</dd>" not in text


@pytest.mark.slow
def test_starter_run_report_opens_in_chromium_with_a_screenshot(starter_runs, chromium, chromium_path, tmp_path):
    page, shot = tmp_path / "report.html", tmp_path / "report.png"
    assert main(["report", str(starter_runs["ocr"]), str(starter_runs["glyph"]), "--html", str(page),
                 "--data-dir", str(starter_runs["data"])]) == 0
    text = page.read_text()
    assert "not loaded" not in text and "match no sample" not in text
    assert len(text) < 2_000_000
    chromium.open(page.as_uri())
    images = chromium.evaluate(ALL_IMAGES_LOADED)
    # 4 TextVQA inputs, 4 grounding inputs, 3 edit items × (input + output)
    assert images["count"] == 14 and images["decoded"] == 14 and min(images["widths"]) > 0
    assert chromium.evaluate("document.querySelectorAll('table').length") >= 4

    subprocess.run(
        [chromium_path, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,2000",
         f"--screenshot={shot}", page.as_uri()],
        check=True, capture_output=True, timeout=120,
    )
    with Image.open(shot) as image:
        assert image.format == "PNG" and image.size == (1280, 2000)
        pixels = np.asarray(image.convert("RGB"))
    colours = np.unique(pixels.reshape(-1, 3), axis=0)
    assert len(colours) > 200  # text, charts and thumbnails, not a blank page
    assert (pixels < 128).any() and (pixels > 250).any()


def test_comparison_page_is_self_contained_without_a_browser(make_run, report_data):
    base = make_run("oracle", model_args={})
    degraded = make_run("oracle-wrong-40", model_args={"wrong_fraction": "0.4"})
    text = comparison_page(compare_runs(load_run(base), load_run(degraded)), report_data, count=3)
    assert text.startswith("<!DOCTYPE html>") and text.count("<img") == 3 and "<script" not in text
