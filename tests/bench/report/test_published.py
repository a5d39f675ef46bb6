"""Published tables: the data files, and published beside measured."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.cli import main
from bench.report.published import available_papers, default_published_dir, load_paper, paper_frame
from bench.report.runs import load_run

PUBLISHED = Path(__file__).resolve().parents[3] / "results" / "published"
PAPERS = {"textharmony", "monkey", "textmonkey", "docowl15", "tgdoc", "mm_interleaved", "anytext", "textdiffuser", "textdiffuser2"}


def test_every_paper_has_a_valid_file_with_sources():
    assert default_published_dir() == PUBLISHED
    assert PAPERS <= set(available_papers())
    for name in PAPERS:
        paper = load_paper(name)
        assert paper.arxiv and paper.title and paper.protocol_notes
        assert paper.main_model in paper.models()
        for entry in paper.entries:
            assert entry.task and entry.metric and entry.table and entry.source
            if entry.value is not None:
                assert entry.printed, f"{name}: {entry.model} {entry.task}/{entry.metric} has a value but no printed form"
            else:
                assert entry.note, f"{name}: an empty entry must say why ({entry.model} {entry.task}/{entry.metric})"


def test_printed_fractions_are_stored_in_display_units():
    # AnyText prints Sen.ACC as a fraction; thbench shows points.
    anytext = load_paper("anytext")
    entry = next(e for e in anytext.entries if e.model == "AnyText-v1.0" and e.metric == "sentence_accuracy"
                 and e.task_options == {"subset": "laion_word"})
    assert entry.printed == "0.6588" and entry.value == pytest.approx(65.88)


def _paper_file(folder: Path, value_inside: float, value_outside: float) -> Path:
    data = {
        "paper": {"title": "A test paper", "arxiv": "0000.00000"},
        "main_model": "Oracle",
        "protocol_notes": ["exact match"],
        "results": [
            {"model": "Oracle", "task": "report-say", "metric": "correct", "value": value_outside, "printed": str(value_outside),
             "table": "Table 1", "source": "test"},
            {"model": "Oracle", "task": "report-say", "metric": "length", "value": value_inside, "printed": str(value_inside),
             "table": "Table 2", "source": "test"},
            {"model": "Oracle", "task": "report-lines", "metric": "line_accuracy", "value": None, "printed": None,
             "table": "Table 3", "source": "test", "note": "not checked"},
        ],
    }
    (folder / "testpaper.json").write_text(json.dumps(data))
    return folder


def test_published_beside_measured_with_difference_and_flags(make_run, tmp_path):
    degraded = make_run("oracle-wrong-40", model_args={"wrong_fraction": "0.4"})
    summary = load_run(degraded).tasks["report-say"]["metrics"]
    correct = summary["correct"]["value"] * 100
    length = summary["length"]["value"]
    paper = load_paper("testpaper", _paper_file(tmp_path, value_inside=round(length, 6), value_outside=correct - 30))
    frame = paper_frame(paper, [load_run(degraded)], digits=1)
    rows = {row["metric"]: row for row in frame.to_dict("records")}
    assert rows["correct"]["Δ"] == "+30.0" and rows["correct"]["flag"] == "outside measured 95% CI"
    assert rows["length"]["flag"] == "" and rows["length"]["measured"] == f"{length:.1f}"
    assert rows["line_accuracy"]["published"] == "not cited" and rows["line_accuracy"]["flag"] == "not measured"


def test_cli_prints_published_and_measured_side_by_side(make_run, tmp_path, capsys):
    degraded = make_run("oracle-wrong-40", model_args={"wrong_fraction": "0.4"})
    folder = _paper_file(tmp_path, value_inside=1.0, value_outside=10.0)
    assert main(["report", "--paper", "testpaper", "--published-dir", str(folder), str(degraded)]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0]
    assert "published" in header and "measured" in header and "Δ" in header
    assert "outside measured 95% CI" in out and "- exact match" in out


@pytest.mark.slow
def test_textharmony_paper_beside_a_starter_run(starter_runs, capsys):
    assert main(["report", "--paper", "textharmony", str(starter_runs["ocr"])]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if "| textvqa " in line and "containment_accuracy" in line)
    assert "61.1" in row and "on starter-textvqa" in row and "different data" in row
    assert "containment" in out  # the protocol notes follow the table


def test_set_level_metrics_are_compared_without_an_interval(make_run, tmp_path):
    import shutil

    from bench.report.leaderboard import leaderboard

    source = make_run("painter", model="report-painter", tasks=["report-lines"])
    run_dir = tmp_path / "painter-with-fid"
    shutil.copytree(source, run_dir)
    scores = json.loads((run_dir / "scores.json").read_text())
    scores["tasks"]["report-lines"]["set_metrics"] = {"fid": {"value": 40.25, "per_seed": [40.25]},
                                                      "clipscore": {"value": "n/a", "reason": "no CLIP model"}}
    (run_dir / "scores.json").write_text(json.dumps(scores))
    data = {"paper": {"title": "T", "arxiv": "0"}, "main_model": "P", "protocol_notes": ["n"],
            "results": [{"model": "P", "task": "report-lines", "metric": "fid", "value": 38.0, "printed": "38.00",
                         "table": "Table 1", "source": "test"},
                        {"model": "P", "task": "report-lines", "metric": "clipscore", "value": 0.3, "printed": "0.30",
                         "table": "Table 1", "source": "test"}]}
    (tmp_path / "p.json").write_text(json.dumps(data))
    rows = {r["metric"]: r for r in paper_frame(load_paper("p", tmp_path), [load_run(run_dir)]).to_dict("records")}
    assert rows["fid"]["measured"] == "40.2" and rows["fid"]["Δ"] == "+2.2" and rows["fid"]["95% CI"] == "–"
    assert rows["fid"]["flag"] == "set-level: no interval"
    assert rows["clipscore"]["flag"] == "not measured"  # "n/a" is not a number
    frame = leaderboard([load_run(run_dir)], all_metrics=True)
    assert frame.loc[0, "report-lines fid"] == pytest.approx(40.25) and "report-lines clipscore" not in frame.columns
