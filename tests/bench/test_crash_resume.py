"""A run killed with SIGKILL, then started again, ends exactly like an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

SUPPORT = Path(__file__).parent.parent / "support"


def _command(script: Path, data_root: Path, run_dir: Path) -> list[str]:
    return [sys.executable, str(script), "run", "--model", "test-echo", "--tasks", "toy-say",
            "--model-args", "delay_s=0.15", "--batch-size", "1", "--data-dir", str(data_root),
            "--run-dir", str(run_dir), "--no-progress"]


@pytest.fixture
def entry_script(tmp_path: Path) -> Path:
    """``thbench`` with the test plugins registered, as a separate process would run it."""
    script = tmp_path / "thbench_with_toys.py"
    script.write_text(textwrap.dedent(f"""
        import importlib.util, sys
        spec = importlib.util.spec_from_file_location("toy_plugins", {str(SUPPORT / "toy_plugins.py")!r})
        module = importlib.util.module_from_spec(spec); sys.modules["toy_plugins"] = module
        spec.loader.exec_module(module); module.register()
        from bench.cli import main
        sys.exit(main(sys.argv[1:]))
    """))
    return script


@pytest.mark.slow
def test_kill_9_then_resume_matches_an_uninterrupted_run(toy_data, tmp_path, entry_script):
    killed_dir = tmp_path / "killed"
    predictions = killed_dir / "predictions" / "toy-say.jsonl"
    process = subprocess.Popen(_command(entry_script, toy_data, killed_dir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if predictions.is_file() and len(predictions.read_bytes().splitlines()) >= 4:
            break
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    written = len(predictions.read_bytes().splitlines())
    assert 4 <= written < 12, "the kill must land mid-run"

    subprocess.run(_command(entry_script, toy_data, killed_dir), check=True, capture_output=True)
    clean_dir = tmp_path / "clean"
    subprocess.run(_command(entry_script, toy_data, clean_dir), check=True, capture_output=True)

    resumed = [json.loads(line) for line in predictions.read_text().splitlines()]
    assert sorted(r["id"] for r in resumed) == sorted(f"q{i}" for i in range(12))
    clean = {r["key"]: r for r in (json.loads(l) for l in (clean_dir / "predictions" / "toy-say.jsonl").read_text().splitlines())}
    assert {r["key"]: (r["raw"], r["scores"]) for r in resumed} == {k: (r["raw"], r["scores"]) for k, r in clean.items()}
    killed_scores = json.loads((killed_dir / "scores.json").read_text())["tasks"]["toy-say"]
    clean_scores = json.loads((clean_dir / "scores.json").read_text())["tasks"]["toy-say"]
    assert killed_scores == clean_scores
    manifest = json.loads((killed_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["tasks"]["toy-say"]["counts"]["reused"] == written
