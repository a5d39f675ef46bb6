"""``thbench score`` reads the files other tools write: EvalAI and RRC submissions, ChartQA
predictions, lmms-eval logged samples, VLMEvalKit result sheets and the image folders of
AnyText's and MARIO-Eval's scripts, matched to the task's sample ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from bench.cli import main
from bench.context import TaskContext
from bench.prediction_formats import detect_format, read_predictions
from bench.task import TASKS


def _textvqa(root: Path) -> Path:
    folder = root / "textvqa"
    (folder / "train_images").mkdir(parents=True)
    entries = []
    for index, word in enumerate(["open", "exit", "stop"]):
        Image.new("RGB", (8, 8)).save(folder / "train_images" / f"img{index}.jpg")
        entries.append({"question_id": 100 + index, "image_id": f"img{index}", "question": f"what does sign {index} say?",
                        "answers": [word] * 10})
    (folder / "TextVQA_0.5.1_val.json").write_text(json.dumps({"data": entries}))
    return root


def _score(capsys, task: str, predictions: Path, data: Path, *extra: str) -> tuple[int, str]:
    code = main(["score", "--task", task, "--predictions", str(predictions), "--data-dir", str(data), *extra])
    return code, capsys.readouterr().out


def test_an_evalai_textvqa_submission_is_scored(tmp_path, capsys):
    data = _textvqa(tmp_path / "data")
    submission = tmp_path / "submission.json"
    submission.write_text(json.dumps([{"question_id": 100, "answer": "open"}, {"question_id": 101, "answer": "exit"},
                                      {"question_id": 102, "answer": "go"}]))
    assert detect_format(submission) == "evalai"
    code, out = _score(capsys, "textvqa", submission, data)
    assert code == 0 and "textvqa accuracy: 66.67" in out and "n=3 errors=0 missing=0" in out


def test_lmms_eval_logged_samples_are_matched_by_the_id_in_their_doc(tmp_path, capsys):
    data = _textvqa(tmp_path / "data")
    logged = tmp_path / "textvqa_val.jsonl"
    lines = [{"doc_id": i, "doc": {"question_id": 100 + i, "question": "q"}, "target": "", "resps": [[answer]],
              "filtered_resps": [answer]} for i, answer in enumerate(["open", "nope", "stop"])]
    logged.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert detect_format(logged) == "lmms-eval"
    code, out = _score(capsys, "textvqa", logged, data)
    assert code == 0 and "textvqa accuracy: 66.67" in out


@pytest.mark.parametrize("suffix", [".tsv", ".xlsx"])
def test_a_vlmevalkit_sheet_is_matched_by_row_order_when_its_questions_agree(tmp_path, capsys, suffix):
    import pandas as pd

    data = _textvqa(tmp_path / "data")
    frame = pd.DataFrame({"index": [0, 1, 2], "question": [f"what does sign {i} say?" for i in range(3)],
                          "prediction": ["open", "exit", "stop"]})
    sheet = tmp_path / f"model_TextVQA_VAL{suffix}"
    frame.to_csv(sheet, sep="\t", index=False) if suffix == ".tsv" else frame.to_excel(sheet, index=False)
    code, out = _score(capsys, "textvqa", sheet, data)
    assert code == 0 and "textvqa accuracy: 100.00" in out

    frame["question"] = frame["question"][::-1].values
    frame.to_csv(sheet, sep="\t", index=False) if suffix == ".tsv" else frame.to_excel(sheet, index=False)
    code, _ = _score(capsys, "textvqa", sheet, data)
    assert code == 2


def test_unmatched_ids_are_an_error_listing_the_first_ones(tmp_path, capsys, caplog):
    data = _textvqa(tmp_path / "data")
    submission = tmp_path / "submission.json"
    submission.write_text(json.dumps([{"question_id": 100 + i, "answer": "x"} for i in range(9)]))
    code, _ = _score(capsys, "textvqa", submission, data)
    assert code == 2
    assert "(evalai format) has 6 predictions for ids that textvqa does not have, e.g. '103', '104', '105', '106', '107'" in caplog.text


def test_an_rrc_docvqa_submission_is_scored(tmp_path, capsys):
    folder = tmp_path / "data" / "docvqa"
    (folder / "documents").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(folder / "documents" / "d.png")
    entries = [{"questionId": 7, "question": "total?", "image": "documents/d.png", "answers": ["$12.50"]},
               {"questionId": 8, "question": "date?", "image": "documents/d.png", "answers": ["May 3"]}]
    (folder / "val_v1.0.json").write_text(json.dumps({"data": entries}))
    submission = tmp_path / "results.json"
    submission.write_text(json.dumps([{"questionId": 7, "answer": "$12.50"}, {"questionId": 8, "answer": "June"}]))
    assert detect_format(submission) == "rrc"
    code, out = _score(capsys, "docvqa", submission, tmp_path / "data")
    assert code == 0 and "docvqa anls: 50.00" in out


def test_chartqa_predictions_are_matched_by_image_and_question(tmp_path, capsys):
    folder = tmp_path / "data" / "chartqa" / "test"
    (folder / "png").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(folder / "png" / "c1.png")
    (folder / "test_human.json").write_text(json.dumps([{"imgname": "c1.png", "query": "peak?", "label": "40"}]))
    (folder / "test_augmented.json").write_text(json.dumps([{"imgname": "c1.png", "query": "low?", "label": "3"}]))
    predictions = tmp_path / "chartqa.json"
    predictions.write_text(json.dumps([{"imgname": "c1.png", "query": "low?", "prediction": "3"},
                                       {"imgname": "c1.png", "query": "peak?", "prediction": "41"}]))
    code, out = _score(capsys, "chartqa", predictions, tmp_path / "data")
    assert code == 0 and "chartqa relaxed_accuracy: 100.00" in out  # 41 is within 5% of 40


@pytest.mark.parametrize("entry, message", [
    ({"id": "q1", "output": 5}, '"output" must be a string, got int'),
    ({"id": "q1", "images": "a.png"}, '"images" must be a list of file paths'),
])
def test_malformed_thbench_lines_are_refused_with_their_line(tmp_path, capsys, caplog, entry, message):
    data = _textvqa(tmp_path / "data")
    predictions = tmp_path / "predictions.jsonl"
    predictions.write_text(json.dumps(entry) + "\n")
    assert _score(capsys, "textvqa", predictions, data)[0] == 2
    assert f"predictions.jsonl:1: {message}" in caplog.text


def test_deeply_nested_input_is_refused_without_a_traceback(tmp_path, capsys, caplog):
    data = _textvqa(tmp_path / "data")
    predictions = tmp_path / "predictions.jsonl"
    predictions.write_text("[" * 100_000 + "]" * 100_000 + "\n")
    assert _score(capsys, "textvqa", predictions, data)[0] == 2
    assert "nests its values too deeply to be read" in caplog.text and "Traceback" not in caplog.text


def test_anytext_and_mario_image_folders_are_read_as_their_scripts_write_them(starter_data, tmp_path, capsys):
    context = TaskContext(data_root=starter_data)
    edit = TASKS.get("starter-edit").from_args({"num_images": "2"}, context)
    anytext = tmp_path / "anytext_out"
    anytext.mkdir()
    names = [str(sample.id) for sample in edit.load_samples()]
    for name in names:
        for index in range(2):
            Image.new("RGB", (16, 16), "white").save(anytext / f"{name.split('.')[0]}_{index}.jpg")
    read = read_predictions(anytext, edit)
    assert read.format == "anytext-images" and len(read.by_id) == len(names)
    assert read.by_id[names[0]] == {"images": [f"{names[0].split('.')[0]}_0.jpg", f"{names[0].split('.')[0]}_1.jpg"]}

    t2i = TASKS.get("starter-t2i").from_args({"num_images": "2"}, context)
    mario = tmp_path / "mario_out"
    samples = t2i.load_samples()
    for seed in range(2):
        for sample in samples:
            subset, index = str(sample.id).split("/")
            (mario / subset / f"images_{seed}").mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (16, 16), "white").save(mario / subset / f"images_{seed}" / f"{index}_{seed}.jpg")
    read = read_predictions(mario, t2i)
    assert read.format == "mario-images" and set(read.by_id) == {str(s.id) for s in samples}
    first = str(samples[0].id)
    assert read.by_id[first]["images"] == [f"{first.split('/')[0]}/images_0/0_0.jpg", f"{first.split('/')[0]}/images_1/0_1.jpg"]

    code, out = _score(capsys, "starter-t2i", mario, starter_data, "--task-args", "num_images=2")
    assert code == 0 and f"n={len(samples)} errors=0 missing=0" in out


def test_a_runs_own_record_file_gives_one_prediction_per_sample(starter_data, tmp_path, capsys):
    """Image samples are recorded twice (when stored, then with scores); a stopped run may
    leave only the first. Either way each sample is read once, with its stored images."""
    from bench.runner import RunConfig, run

    context = TaskContext(data_root=starter_data)
    run_dir = tmp_path / "run"
    run(RunConfig(model="glyph-render", tasks=["starter-edit"], run_dir=run_dir, context=context, limit=3,
                  progress=False, scoring_workers=1))
    (records,) = (run_dir / "predictions" / "starter-edit").glob("*.jsonl")
    lines = [json.loads(line) for line in records.read_text().splitlines()]
    assert len(lines) == 6 and sum(line["scoring_fingerprint"] == "unscored" for line in lines) == 3
    task = TASKS.get("starter-edit").from_args({}, context)
    scored = {line["id"]: line["images"] for line in lines if line["scoring_fingerprint"] != "unscored"}
    assert {sample_id: entry["images"] for sample_id, entry in read_predictions(records, task).by_id.items()} == scored

    stopped = tmp_path / "stopped.jsonl"  # the last sample's scores never written
    stopped.write_text("".join(json.dumps(line) + "\n" for line in lines[:-1]))
    assert len(read_predictions(stopped, task).by_id) == 3
