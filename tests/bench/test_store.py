from __future__ import annotations

import json

import pytest
from PIL import Image

from bench.records import PredictionRecord, SampleError
from bench.store import CorruptStoreError, RunStore, StoreFormatError


def _record(key: str, raw: str = "x", fingerprint: str = "r", **extra) -> PredictionRecord:
    return PredictionRecord(key=key, id=key, request_fingerprint=fingerprint, scoring_fingerprint="s", seed=1, prompt="p",
                            raw=raw, **extra)


def _write(store: RunStore, writer: str, records: list[PredictionRecord], task: str = "t") -> None:
    handle = store.open_writer(writer)
    handle.append(task, records)
    handle.close()


def test_round_trip_keeps_every_field(tmp_path):
    store = RunStore(tmp_path)
    original = _record("a", parsed={"box": [1, 2, 3, 4]}, scores={"acc": 1.0}, rev=2, writer="w1",
                       error=SampleError("ValueError", "bad", "model"), images=["images/t/a_0.png"])
    _write(store, "w1", [original])
    assert store.read_predictions("t") == {"a": original}


def test_the_highest_revision_wins_whatever_the_file_order(tmp_path):
    store = RunStore(tmp_path)
    # "z-writer" sorts after "a-writer", so it is read last; its record is older (rev 0).
    _write(store, "a-writer", [_record("k", "retried", rev=1, writer="a-writer"), _record("b", writer="a-writer")])
    _write(store, "z-writer", [_record("k", "first", rev=0, writer="z-writer")])
    records = store.read_predictions("t")
    assert records["k"].raw == "retried" and set(records) == {"k", "b"}


def test_equal_revisions_are_ordered_by_writer_not_by_reading_order(tmp_path):
    first, second = RunStore(tmp_path / "one"), RunStore(tmp_path / "two")
    _write(first, "w-a", [_record("k", "from a", writer="w-a")])
    _write(first, "w-b", [_record("k", "from b", writer="w-b")])
    _write(second, "w-b", [_record("k", "from b", writer="w-b")])
    _write(second, "w-a", [_record("k", "from a", writer="w-a")])
    assert first.read_predictions("t")["k"].raw == second.read_predictions("t")["k"].raw == "from b"


def test_records_of_other_requests_are_kept_in_their_own_slots(tmp_path):
    store = RunStore(tmp_path)
    _write(store, "w", [_record("k", "prompt 1", fingerprint="r1"), _record("k", "prompt 2", fingerprint="r2")])
    slots = store.read_records("t").by_slot
    assert {slot: record.raw for slot, record in slots.items()} == {("k", "r1"): "prompt 1", ("k", "r2"): "prompt 2"}


def test_a_torn_last_line_is_skipped_and_never_cut_by_a_reader(tmp_path):
    store = RunStore(tmp_path)
    _write(store, "w", [_record("a"), _record("b")])
    path = store.writer_path("t", "w")
    torn = path.read_bytes()[:-10]
    path.write_bytes(torn)
    assert set(store.read_predictions("t")) == {"a"}
    assert path.read_bytes() == torn


def test_fields_of_a_newer_version_are_kept_through_compaction(tmp_path):
    store = RunStore(tmp_path)
    line = json.loads(_record("a").to_json())
    line["confidence"] = 0.25
    path = store.writer_path("t", "old")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(line) + "\n")
    assert store.read_predictions("t")["a"].extra == {"confidence": 0.25}
    store.compact("t", "new")
    [compacted] = store.record_files("t")
    assert json.loads(compacted.read_text())["confidence"] == 0.25


def test_compaction_keeps_the_current_record_of_every_slot(tmp_path):
    store = RunStore(tmp_path)
    _write(store, "w1", [_record("a", "1"), _record("b"), _record("other", fingerprint="r2")])
    _write(store, "w2", [_record("a", "2", rev=1, writer="w2")])
    legacy = store.legacy_predictions_path("t")
    legacy.write_text(_record("c", "legacy").to_json() + "\n")
    store.compact("t", "w3")
    [compacted] = store.record_files("t")
    lines = [json.loads(line) for line in compacted.read_text().splitlines()]
    assert sorted((line["key"], line["raw"]) for line in lines) == [("a", "2"), ("b", "x"), ("c", "legacy"), ("other", "x")]


def test_unreadable_lines_block_compaction_so_nothing_is_lost(tmp_path):
    store = RunStore(tmp_path)
    _write(store, "w", [_record("a")])
    path = store.writer_path("t", "w")
    path.write_text(path.read_text() + "{not json\n")
    store.compact("t", "w2")
    assert store.record_files("t") == [path]


def test_a_folder_of_a_newer_major_format_is_refused_untouched(tmp_path):
    (tmp_path / "store.json").write_text(json.dumps({"format": "3.0", "written_by": "9.0"}))
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(StoreFormatError, match="newer thbench.*format 3.0"):
        RunStore(tmp_path).check_format()
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_newer_minor_format_is_accepted(tmp_path):
    (tmp_path / "store.json").write_text(json.dumps({"format": "2.7"}))
    RunStore(tmp_path).check_format()


def test_corrupt_json_files_are_named(tmp_path):
    (tmp_path / "scores.json").write_text('{"tasks": \n')
    with pytest.raises(CorruptStoreError, match="scores.json is not valid JSON"):
        RunStore(tmp_path).read_scores()


def test_images_are_renamed_into_place_and_temporaries_cleaned(tmp_path):
    store = RunStore(tmp_path)
    record = _record("k", writer="w")
    names = store.save_images("t", record, [Image.new("RGB", (4, 4), (255, 0, 0))], "png")
    assert Image.open(tmp_path / names[0]).getpixel((0, 0)) == (255, 0, 0)
    assert not list((tmp_path / "images").rglob("*.tmp"))
    (tmp_path / "images" / "t" / ".k_r_0.png.dead.tmp").write_bytes(b"")
    assert store.remove_stale_temporaries() == 1


def test_manifest_and_scores_are_replaced_whole(tmp_path):
    store = RunStore(tmp_path / "run")
    store.write_manifest({"status": "running"})
    store.write_manifest({"status": "complete"})
    assert store.read_manifest() == {"status": "complete"}
    assert not [p for p in (tmp_path / "run").iterdir() if p.name.endswith(".tmp")]
