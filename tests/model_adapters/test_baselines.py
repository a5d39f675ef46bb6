"""The two built-in baselines reach the levels the starter suite is designed around."""

from __future__ import annotations

import pytest

from bench.context import TaskContext
from bench.runner import RunConfig, run


def _headline(outcome, task):
    summary = next(t.summary for t in outcome.tasks if t.task == task)
    assert summary["errors"] == 0
    return summary["metrics"]


@pytest.mark.slow
def test_glyph_render_is_read_back_by_the_scorers(starter_data, tmp_path):
    outcome = run(RunConfig(
        model="glyph-render", tasks=["starter-t2i", "starter-edit"], context=TaskContext(data_root=starter_data),
        task_args={"starter-t2i": {"num_images": "1"}, "starter-edit": {"num_images": "1"}},
        results_root=tmp_path, progress=False,
    ))
    t2i = _headline(outcome, "starter-t2i")
    assert t2i["accuracy"]["value"] >= 0.9
    assert t2i["f_measure"]["value"] >= 0.95
    edit = _headline(outcome, "starter-edit")
    assert edit["sentence_accuracy"]["value"] >= 0.95
    assert edit["ned"]["value"] >= 0.95


@pytest.mark.slow
def test_ocr_pipeline_finds_words(starter_data, tmp_path):
    outcome = run(RunConfig(model="ocr-pipeline", tasks=["starter-grounding"], context=TaskContext(data_root=starter_data),
                            results_root=tmp_path, progress=False))
    metrics = _headline(outcome, "starter-grounding")
    assert metrics["acc@0.5"]["value"] >= 0.8
    assert metrics["unparsable"]["value"] == 0.0


def test_ocr_pipeline_rules_on_a_rendered_form():
    """Field lookup reads the value right of its label; prices and numbers have their rules."""
    from PIL import Image, ImageDraw

    from bench.ocr.rapid import RapidOcrEngine
    from bench.render import font_paths, load_font
    from model_adapters.ocr_pipeline import answer_question, locate_word

    image = Image.new("RGB", (640, 360), "white")
    draw = ImageDraw.Draw(image)
    font = load_font(font_paths()[0], 28)
    draw.text((30, 30), "Invoice No:", font=font, fill="black")
    draw.text((260, 30), "58213", font=font, fill="black")
    draw.text((30, 100), "Customer:", font=font, fill="black")
    draw.text((260, 100), "Maria Lopez", font=font, fill="black")
    draw.text((30, 170), "Price", font=font, fill="black")
    draw.text((260, 170), "$12.50", font=font, fill="black")
    draw.text((30, 260), "GRAND HOTEL", font=load_font(font_paths()[0], 60), fill="black")
    lines = RapidOcrEngine().read_page(image)
    assert answer_question(lines, "What is the invoice number?") == "58213"
    assert answer_question(lines, "Who is the customer?") == "Maria Lopez"
    assert answer_question(lines, "How much does it cost?") == "$12.50"
    assert answer_question(lines, "What does the sign say?") == "GRAND HOTEL"
    box = [float(v) for v in locate_word(lines, "Lopez").strip("[]").split(",")]
    assert 330 < box[0] < 380 and 95 < box[1] < 110 and box[2] > box[0]
