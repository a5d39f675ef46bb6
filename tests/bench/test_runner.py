"""The runner's promises: refuse impossible pairs early, isolate bad samples, never depend on
batch size, and resume exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.context import TaskContext
from bench.runner import IncompatibleTaskError, RunConfig, SampleFailure, run
from bench.store import RunStore


def _config(data_root: Path, tmp_path: Path, **overrides) -> RunConfig:
    values = dict(
        model="test-echo",
        tasks=["toy-say"],
        context=TaskContext(data_root=data_root),
        results_root=tmp_path / "runs",
        progress=False,
    )
    values.update(overrides)
    return RunConfig(**values)


def _scores(summary: dict) -> dict:
    """A summary without its provenance (which records, written by which process)."""
    return {name: value for name, value in summary.items() if name != "configuration"}


def _lines(run_dir: Path, task: str = "toy-say") -> list[dict]:
    """The current records (one per sample and request), as stored."""
    return [record.to_dict() for record in RunStore(run_dir).read_records(task).by_slot.values()]


def test_scores_every_sample_and_writes_the_store(toy_data, tmp_path):
    outcome = run(_config(toy_data, tmp_path, model_args={"wrong_every": "4"}))
    summary = outcome.tasks[0].summary
    # numbers 0..11, wrong on 0, 4 and 8
    assert summary["n"] == 12 and summary["errors"] == 0
    assert summary["metrics"]["exact"]["value"] == pytest.approx(9 / 12)
    low, high = summary["metrics"]["exact"]["ci95"]
    assert low <= 9 / 12 <= high and low < high
    manifest = RunStore(outcome.run_dir).read_manifest()
    assert manifest["status"] == "complete"
    assert manifest["adapter"]["options"]["wrong_every"] == 4
    assert manifest["tasks"]["toy-say"]["counts"]["computed"] == 12
    assert manifest["environment"]["packages"]["torch"]
    scores = RunStore(outcome.run_dir).read_scores()
    assert scores["tasks"]["toy-say"]["metrics"]["exact"]["value"] == pytest.approx(0.75)
    assert {line["id"] for line in _lines(outcome.run_dir)} == {f"q{i}" for i in range(12)}


def test_refuses_an_impossible_pair_before_loading(toy_data, tmp_path):
    with pytest.raises(IncompatibleTaskError, match="toy-paint.*test-echo"):
        run(_config(toy_data, tmp_path, tasks=["toy-say", "toy-paint"]))
    assert not (tmp_path / "runs").exists()


def test_batch_size_changes_no_output(toy_data, tmp_path):
    outputs = []
    for batch_size in (1, 5):
        outcome = run(_config(toy_data, tmp_path, model_args={"noisy": "true"}, batch_size=batch_size, run_dir=tmp_path / f"b{batch_size}"))
        outputs.append(sorted((line["key"], line["raw"], line["seed"]) for line in _lines(outcome.run_dir)))
    assert outputs[0] == outputs[1]
    assert len({raw for _, raw, _ in outputs[0]}) == 12


def test_seed_changes_sampled_outputs(toy_data, tmp_path):
    first = run(_config(toy_data, tmp_path, model_args={"noisy": "true"}, seed=0))
    second = run(_config(toy_data, tmp_path, model_args={"noisy": "true"}, seed=1))
    assert first.run_dir != second.run_dir
    raws = lambda o: {line["key"]: line["raw"] for line in _lines(o.run_dir)}  # noqa: E731
    assert raws(first).keys() == raws(second).keys() and raws(first) != raws(second)


def test_a_failing_sample_is_recorded_and_the_run_goes_on(toy_data, tmp_path):
    log = tmp_path / "calls.log"
    outcome = run(_config(toy_data, tmp_path, model_args={"fail_on": "say 3", "log_file": str(log)}))
    summary = outcome.tasks[0].summary
    assert summary["errors"] == 1
    assert summary["metrics"]["exact"]["value"] == pytest.approx(11 / 12)
    failed = [line for line in _lines(outcome.run_dir) if line["error"]]
    assert len(failed) == 1 and failed[0]["id"] == "q3"
    assert failed[0]["error"] == {"type": "RuntimeError", "message": "cannot answer 'say 3'", "stage": "model"}
    assert failed[0]["scores"] == {"exact": 0.0, "length": 0.0}
    # the batch holding q3 was retried one sample at a time; every other sample was answered
    answered = log.read_text().split()
    assert len(set(answered)) == 11


def test_an_unreadable_image_fails_only_its_sample(tmp_path):
    from toy_plugins import write_toy_dataset

    write_toy_dataset(tmp_path / "data" / "toy", broken=[5])
    outcome = run(_config(tmp_path / "data", tmp_path))
    failed = [line for line in _lines(outcome.run_dir) if line["error"]]
    assert [line["id"] for line in failed] == ["q5"]
    assert failed[0]["error"]["stage"] == "input"
    assert failed[0]["error"]["type"] == "UnidentifiedImageError"


def test_fail_fast_stops_at_the_first_failure(toy_data, tmp_path):
    with pytest.raises(SampleFailure, match="say 3|q3"):
        run(_config(toy_data, tmp_path, model_args={"fail_on": "say 3"}, fail_fast=True))


def test_limit_takes_the_first_samples(toy_data, tmp_path):
    outcome = run(_config(toy_data, tmp_path, limit=3))
    assert outcome.tasks[0].summary["n"] == 3
    assert [line["id"] for line in _lines(outcome.run_dir)] == ["q0", "q1", "q2"]


def test_rerun_reuses_everything_without_calling_the_model(toy_data, tmp_path):
    log = tmp_path / "calls.log"
    config = _config(toy_data, tmp_path, model_args={"log_file": str(log)})
    first = run(config)
    calls = log.read_text()
    second = run(config)
    assert log.read_text() == calls
    assert second.run_dir == first.run_dir
    assert second.tasks[0].reused == 12 and second.tasks[0].computed == 0
    assert second.tasks[0].summary == first.tasks[0].summary


def test_a_changed_prompt_is_recomputed_and_the_earlier_one_kept(toy_data, tmp_path):
    run_dir = tmp_path / "run"
    run(_config(toy_data, tmp_path, run_dir=run_dir))
    changed = run(_config(toy_data, tmp_path, run_dir=run_dir, task_args={"toy-say": {"suffix": "?"}}))
    assert changed.tasks[0].computed == 12
    assert sum(line["prompt"].endswith("?") for line in _lines(run_dir)) == 12
    back = run(_config(toy_data, tmp_path, run_dir=run_dir))
    assert back.tasks[0].computed == 0 and back.tasks[0].reused == 12
    assert len(_lines(run_dir)) == 24, "one line per sample key of each configuration"


def test_a_changed_input_image_is_recomputed(toy_data, tmp_path):
    from PIL import Image

    run_dir = tmp_path / "run"
    run(_config(toy_data, tmp_path, run_dir=run_dir))
    Image.new("RGB", (8, 8), (0, 0, 255)).save(toy_data / "toy" / "images" / "004.png")
    again = run(_config(toy_data, tmp_path, run_dir=run_dir))
    assert again.tasks[0].computed == 1 and again.tasks[0].reused == 11


def test_duplicate_sample_ids_are_refused(tmp_path):
    import json as json_module

    from toy_plugins import write_toy_dataset

    from bench.task import DatasetError

    folder = write_toy_dataset(tmp_path / "data" / "toy", count=3)
    entries = json_module.loads((folder / "questions.json").read_text())
    entries[2]["id"] = entries[0]["id"]
    (folder / "questions.json").write_text(json_module.dumps(entries))
    with pytest.raises(DatasetError, match="'q0' occurs twice"):
        run(_config(tmp_path / "data", tmp_path))


def test_a_changed_checkpoint_is_recomputed(toy_data, tmp_path):
    """A file named in the options enters the fingerprint by its content, not its name."""
    checkpoint = tmp_path / "weights.bin"
    checkpoint.write_bytes(b"first weights")
    run_dir = tmp_path / "run"
    config = _config(toy_data, tmp_path, run_dir=run_dir, model_args={"checkpoint": str(checkpoint)})
    run(config)
    assert run(config).tasks[0].computed == 0
    checkpoint.write_bytes(b"other weights")
    assert run(config).tasks[0].computed == 12


def test_a_scoring_change_rescores_without_the_model(toy_data, tmp_path):
    log = tmp_path / "calls.log"
    run_dir = tmp_path / "run"
    model_args = {"noisy": "true", "log_file": str(log)}
    first = run(_config(toy_data, tmp_path, run_dir=run_dir, model_args=model_args))
    assert first.tasks[0].summary["metrics"]["exact"]["value"] == 0.0
    calls = log.read_text()
    rescored = run(_config(toy_data, tmp_path, run_dir=run_dir, model_args=model_args,
                           task_args={"toy-say": {"strip": "-0123456789"}}))
    assert log.read_text() == calls
    assert rescored.tasks[0].rescored == 12 and rescored.tasks[0].computed == 0
    # "7-123" stripped of digits and dashes from both ends leaves nothing: still wrong, but
    # the length metric shows the new parse was applied
    assert rescored.tasks[0].summary["metrics"]["length"]["value"] == 0.0


def test_limit_is_recorded_beside_the_scores(toy_data, tmp_path):
    outcome = run(_config(toy_data, tmp_path, limit=5))
    summary = RunStore(outcome.run_dir).read_scores()["tasks"]["toy-say"]
    assert (summary["n"], summary["samples_total"], summary["limit"]) == (5, 12, 5)


def test_errors_are_kept_on_rerun_unless_retried(toy_data, tmp_path):
    run_dir = tmp_path / "run"
    run(_config(toy_data, tmp_path, run_dir=run_dir, model_args={"fail_on": "say 3"}))
    kept = run(_config(toy_data, tmp_path, run_dir=run_dir, model_args={"fail_on": "say 3"}))
    assert kept.tasks[0].computed == 0 and kept.tasks[0].summary["errors"] == 1
    retried = run(_config(toy_data, tmp_path, run_dir=run_dir, model_args={"fail_on": "say 3"}, retry_errors=True))
    assert retried.tasks[0].computed == 1 and retried.tasks[0].summary["errors"] == 1


def test_a_torn_last_line_is_recomputed(toy_data, tmp_path):
    log = tmp_path / "calls.log"
    config = _config(toy_data, tmp_path, model_args={"log_file": str(log)}, run_dir=tmp_path / "run")
    complete = run(config)
    [path] = (complete.run_dir / "predictions" / "toy-say").glob("*.jsonl")
    lines = path.read_bytes().splitlines(keepends=True)
    # a crash in the middle of writing the last record
    path.write_bytes(b"".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])
    log.write_text("")
    resumed = run(config)
    assert resumed.tasks[0].computed == 1 and resumed.tasks[0].reused == 11
    assert len(log.read_text().split()) == 1
    assert len(_lines(complete.run_dir)) == 12
    assert _scores(resumed.tasks[0].summary) == _scores(complete.tasks[0].summary)


def test_generated_images_are_stored_and_scored_as_stored(tmp_path):
    config = RunConfig(model="test-painter", tasks=["toy-paint"], results_root=tmp_path / "runs", progress=False,
                       context=TaskContext(data_root=tmp_path, image_format="png"))
    outcome = run(config)
    lines = _lines(outcome.run_dir, "toy-paint")
    assert all(len(line["images"]) == 2 for line in lines)
    from PIL import Image

    first = lines[0]
    pixels = [Image.open(outcome.run_dir / p).getpixel((0, 0)) for p in first["images"]]
    assert first["scores"]["redness"] == pytest.approx(sum(p[0] for p in pixels) / 2 / 255)
    jpeg = run(RunConfig(model="test-painter", tasks=["toy-paint"], results_root=tmp_path / "jpeg", progress=False,
                         context=TaskContext(data_root=tmp_path, image_format="jpeg")))
    assert all(p.endswith(".jpg") for line in _lines(jpeg.run_dir, "toy-paint") for p in line["images"])
    assert RunStore(jpeg.run_dir).read_manifest()["image_format"] == "jpeg"
    # the same run folder asked for JPEG recomputes: stored PNGs are not what would be scored
    switched = run(RunConfig(model="test-painter", tasks=["toy-paint"], run_dir=outcome.run_dir, progress=False,
                             context=TaskContext(data_root=tmp_path, image_format="jpeg")))
    assert switched.tasks[0].computed == 5
    from bench.report.runs import load_run

    scored = load_run(outcome.run_dir).predictions("toy-paint").values()
    assert len(scored) == 5 and all(p.endswith(".jpg") for record in scored for p in record.images)


def test_set_metrics_are_recomputed_only_when_their_inputs_change(tmp_path):
    from toy_plugins import ToyPaintTask

    def paint(**task_options):
        return run(RunConfig(model="test-painter", tasks=["toy-paint"], results_root=tmp_path / "runs", progress=False,
                             context=TaskContext(data_root=tmp_path), task_args={"toy-paint": task_options}))

    calls = ToyPaintTask.set_metric_calls
    first = paint()
    assert first.tasks[0].summary["set_metrics"] == {"images_plus_offset": {"value": 10.0}}
    paint()
    assert ToyPaintTask.set_metric_calls == calls + 1, "a full reuse reuses the set metrics"
    shifted = paint(offset="0.5")
    assert ToyPaintTask.set_metric_calls == calls + 2
    assert shifted.tasks[0].computed == 0 and shifted.tasks[0].rescored == 0
    assert shifted.tasks[0].summary["set_metrics"]["images_plus_offset"]["value"] == 10.5
