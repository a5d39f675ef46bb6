"""Checkpoint layouts: single file, split parts, shards, safetensors; strictness; conversion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from model_adapters.textharmony import CheckpointSource, convert_checkpoint, load_model
from model_adapters.textharmony.checkpoint import PartialCheckpointError
from model_adapters.textharmony.split_file import SplitFile, find_parts


@pytest.fixture(scope="module")
def saved(tiny_model, tmp_path_factory) -> tuple[dict[str, torch.Tensor], Path]:
    """The tiny model saved as the release saves it (one torch.save file) and as split parts."""
    folder = tmp_path_factory.mktemp("ckpt")
    state = tiny_model.state_dict()
    torch.save(state, folder / "pytorch_model.bin")
    data = (folder / "pytorch_model.bin").read_bytes()
    parts = folder / "parts"
    parts.mkdir()
    third = len(data) // 3 + 1
    for i, suffix in enumerate(("aa", "ab", "ac")):
        (parts / f"pytorch_model.bin{suffix}").write_bytes(data[i * third : (i + 1) * third])
    return state, folder


def assert_same(model, state):
    loaded = model.state_dict()
    assert list(loaded) == list(state)
    for key, value in state.items():
        assert loaded[key].dtype == value.dtype, key
        assert torch.equal(loaded[key], value), key


def test_round_trip_through_release_layout(saved):
    state, folder = saved
    model, report = load_model(folder / "pytorch_model.bin", "tiny", device="cpu")
    assert report.complete and report.loaded == len(state)
    assert_same(model, state)


def test_split_parts_read_like_the_concatenated_file(saved):
    state, folder = saved
    parts = find_parts(folder / "parts" / "pytorch_model.bin")
    assert [p.name[-2:] for p in parts] == ["aa", "ab", "ac"]
    with SplitFile(parts) as joined:
        assert joined.read() == (folder / "pytorch_model.bin").read_bytes()
        joined.seek(0)
        through_torch = torch.load(joined, map_location="cpu", weights_only=True)
    assert all(torch.equal(through_torch[k], v) for k, v in state.items())
    for given in (folder / "parts" / "pytorch_model.bin", folder / "parts", parts[1]):
        model, report = load_model(given, "tiny")
        assert report.source["layout"] == "split parts (3)"
        assert_same(model, state)


def test_plain_vit_keys_are_accepted(saved, tmp_path):
    state, _ = saved
    plain = {k.replace("encoder.base_model.model.", "encoder."): v for k, v in state.items()}
    assert any(k.startswith("visual_tokenizer.encoder.vision_model.") for k in plain)
    torch.save(plain, tmp_path / "plain.bin")
    model, report = load_model(tmp_path / "plain.bin", "tiny")
    assert report.complete
    assert_same(model, state)


def test_partial_load_is_refused_unless_allowed(saved, tmp_path):
    state, _ = saved
    partial = dict(state)
    del partial["soi_token"]
    partial["not_a_weight"] = torch.zeros(2)
    torch.save(partial, tmp_path / "partial.bin")
    with pytest.raises(PartialCheckpointError, match="soi_token"):
        load_model(tmp_path / "partial.bin", "tiny")
    model, report = load_model(tmp_path / "partial.bin", "tiny", allow_partial=True)
    assert report.missing == ["soi_token"] and report.unexpected == ["not_a_weight"]
    assert torch.count_nonzero(model.soi_token) == 0


def test_wrong_shapes_and_missing_files_are_named(saved, tmp_path):
    _, folder = saved
    with pytest.raises(ValueError, match="checkpoint shape"):
        load_model(folder / "pytorch_model.bin", "mid")
    with pytest.raises(FileNotFoundError, match=r"nowhere\.bin"):
        load_model(tmp_path / "nowhere.bin", "tiny")


def test_safetensors_conversion_round_trip(saved, tmp_path):
    state, folder = saved
    index = convert_checkpoint(folder / "parts", tmp_path / "st", shard_size="100KB")
    weight_map = json.loads(index.read_text())["weight_map"]
    shards = sorted(set(weight_map.values()))
    assert len(shards) > 1 and set(weight_map) == set(state)
    model, report = load_model(tmp_path / "st", "tiny")
    assert report.source["layout"].startswith("sharded")
    assert_same(model, state)
    single = convert_checkpoint(folder / "pytorch_model.bin", tmp_path / "one", shard_size="1GB")
    with CheckpointSource(single.parent / "model-00001-of-00001.safetensors") as source:
        assert set(source.records) == set(state)


def test_bf16_load_keeps_vae_float32(saved):
    _, folder = saved
    model, _ = load_model(folder / "pytorch_model.bin", "tiny", dtype=torch.bfloat16)
    assert model.soi_token.dtype == torch.bfloat16
    assert model.image_decoder.decoder.vae.decoder.conv_out.weight.dtype == torch.float32
    ids = model.visual_tokenizer.encoder.vision_model.embeddings.position_ids
    assert ids.dtype == torch.int64


def test_convert_from_the_command_line(saved, tmp_path):
    from bench.cli import main

    state, folder = saved
    assert main(["convert", "textharmony", str(folder / "parts"), str(tmp_path / "bf16"), "--dtype", "bfloat16"]) == 0
    model, _ = load_model(tmp_path / "bf16", "tiny", dtype=torch.float32)
    for name, tensor in model.state_dict().items():
        expected = state[name].to(torch.bfloat16).to(tensor.dtype) if state[name].is_floating_point() else state[name]
        assert torch.equal(tensor, expected), name


def test_a_conversion_that_fails_midway_leaves_no_output(saved, small_disk):
    """A disk that fills after the first shards: none of them may stay behind as a checkpoint."""
    _, folder = saved
    size = (folder / "pytorch_model.bin").stat().st_size
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * (2 * 1024 * 1024 - size // 2))
    target = small_disk / "converted"
    with pytest.raises(OSError):
        convert_checkpoint(folder / "pytorch_model.bin", target, shard_size="50KB")
    assert not target.exists()


class _Payload:
    """What a malicious checkpoint holds: a call made while it is unpickled."""

    def __reduce__(self):
        import os

        return (os.system, ("echo pwned > pwned.txt",))


def test_a_malicious_checkpoint_is_refused_in_one_line_and_its_conversion_leaves_nothing(tmp_path, caplog, capsys, monkeypatch):
    from bench.cli import main

    monkeypatch.chdir(tmp_path)
    torch.save({"weight": torch.ones(2), "payload": _Payload()}, tmp_path / "evil.bin")
    assert main(["convert", "textharmony", str(tmp_path / "evil.bin"), str(tmp_path / "out")]) == 2
    assert "the checkpoint references posix.system" in caplog.text and "refusing to load it" in caplog.text
    assert "Traceback" not in caplog.text + capsys.readouterr().err
    assert not (tmp_path / "pwned.txt").exists() and not (tmp_path / "out").exists()
