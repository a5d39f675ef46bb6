from __future__ import annotations

import json

from bench.store import PredictionRecord, RunStore, SampleError


def _record(key: str, raw: str = "x", **extra) -> PredictionRecord:
    return PredictionRecord(key=key, id=key, request_fingerprint="r", scoring_fingerprint="s", seed=1, prompt="p", raw=raw, **extra)


def test_round_trip_keeps_every_field(tmp_path):
    store = RunStore(tmp_path)
    original = _record("a", parsed={"box": [1, 2, 3, 4]}, scores={"acc": 1.0},
                       error=SampleError("ValueError", "bad", "model"), images=["images/t/a_0.png"])
    store.append_predictions("t", [original])
    assert store.read_predictions("t") == {"a": original}


def test_latest_record_per_key_wins(tmp_path):
    store = RunStore(tmp_path)
    store.append_predictions("t", [_record("a", "old"), _record("b")])
    store.append_predictions("t", [_record("a", "new")])
    records = store.read_predictions("t")
    assert records["a"].raw == "new" and set(records) == {"a", "b"}


def test_torn_last_line_is_cut_so_appends_start_clean(tmp_path):
    store = RunStore(tmp_path)
    store.append_predictions("t", [_record("a"), _record("b")])
    path = store.predictions_path("t")
    data = path.read_bytes()
    path.write_bytes(data[:-10])  # the second line lost its end
    assert set(store.read_predictions("t")) == {"a"}
    store.append_predictions("t", [_record("c")])
    lines = path.read_text().splitlines()
    assert [json.loads(line)["key"] for line in lines] == ["a", "c"]


def test_readers_other_than_the_runner_never_cut_the_file(tmp_path):
    store = RunStore(tmp_path)
    store.append_predictions("t", [_record("a"), _record("b")])
    path = store.predictions_path("t")
    torn = path.read_bytes()[:-10]
    path.write_bytes(torn)
    assert set(store.read_predictions("t", repair=False)) == {"a"}
    assert path.read_bytes() == torn


def test_compaction_keeps_one_line_per_key(tmp_path):
    store = RunStore(tmp_path)
    store.append_predictions("t", [_record("a", "1"), _record("b"), _record("a", "2"), _record("other-config")])
    store.compact_predictions("t")
    lines = [json.loads(line) for line in store.predictions_path("t").read_text().splitlines()]
    assert sorted((line["key"], line["raw"]) for line in lines) == [("a", "2"), ("b", "x"), ("other-config", "x")]


def test_manifest_and_scores_are_replaced_whole(tmp_path):
    store = RunStore(tmp_path / "run")
    store.write_manifest({"status": "running"})
    store.write_manifest({"status": "complete"})
    assert store.read_manifest() == {"status": "complete"}
    assert not [p for p in (tmp_path / "run").iterdir() if p.name.endswith(".tmp")]
