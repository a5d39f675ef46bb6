"""Self-contained HTML reports: one file, inline CSS, SVG charts, images as ``data:`` URIs.

Model outputs and dataset strings are untrusted: every one goes through :func:`html.escape`,
and the page also carries a Content-Security-Policy that forbids scripts and any load other
than inline images and styles, so a missed escape still cannot run code or call out.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any, Iterable, Sequence

import pandas as pd

from bench.report.charts import Bar, bar_chart
from bench.report.compare import Comparison
from bench.report.compare_text import METHOD, comparison_frame
from bench.report.images import thumbnail_uri
from bench.report.leaderboard import display_frame, leaderboard, metric_columns
from bench.report.runs import RunSummary
from bench.report.samples import SampleView, TaskSamples, task_samples
from bench.report.tables import html_table
from bench.summaries import TaskSummary

CONTENT_SECURITY_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
#: Characters of a model output or dataset field shown before it is cut.
TEXT_LIMIT = 600
OUTPUT_THUMBNAIL_SIDE = 192

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1200px;color:#1d1d1f;padding:0 16px}
h1{font-size:24px}h2{font-size:19px;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:36px}h3{font-size:16px;margin-top:24px}
table{border-collapse:collapse;margin:8px 0 16px}th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f4f5f7}td{font-variant-numeric:tabular-nums}
.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;font-size:13px}.meta dt{color:#666}.meta dd{margin:0;word-break:break-all}
.note{background:#fff7e0;border-left:3px solid #efb118;padding:4px 8px;margin:6px 0;font-size:13px}
.bad{color:#b00020;font-weight:600}.good{color:#11772d}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(280px,1fr));gap:12px}
.card{border:1px solid #ddd;border-radius:6px;padding:8px;font-size:13px;overflow-wrap:anywhere}
.card img{max-width:100%;display:block;margin:0 auto 6px;border:1px solid #eee}
.card .images{display:flex;flex-wrap:wrap;gap:4px}.card .images img{max-width:48%;margin:0}
.card dl{margin:4px 0;display:grid;grid-template-columns:max-content 1fr;gap:1px 8px}.card dt{color:#666}.card dd{margin:0;white-space:pre-wrap}
.chart{display:block;margin:6px 0 14px}.chart .title{font-weight:600;font-size:13px}.chart .label,.chart .value{font-size:12px}
.chart .tick{font-size:11px;fill:#555}.chart .grid{stroke:#e5e5e5}.chart .whisker{stroke:#222;stroke-width:1.5;fill:none}
.missing{color:#999;font-style:italic;text-align:center;padding:24px 0;border:1px dashed #ccc;margin-bottom:6px}
"""


def page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n"
    )


# -- leaderboard ---------------------------------------------------------------------------------

def leaderboard_page(frame: pd.DataFrame, digits: int = 1, title: str = "thbench leaderboard") -> str:
    return page(title, f"<h1>{_e(title)}</h1>\n" + leaderboard_section(frame, digits))


def leaderboard_section(frame: pd.DataFrame, digits: int = 1) -> str:
    parts = [html_table(display_frame(frame, digits), "leaderboard"),
             '<p class="meta-note">Values with 95% bootstrap intervals; errors are failed samples, scored as misses.</p>']
    for column in metric_columns(frame):
        low, high = f"{column} ci_low", f"{column} ci_high"
        bars = [
            Bar(f"{row['model']} ({row['run']})", _float(row[column]),
                _float(row[low]) if low in frame.columns else None, _float(row[high]) if high in frame.columns else None)
            for _, row in frame.iterrows()
        ]
        parts.append(bar_chart(column, bars))
    return "\n".join(parts)


# -- runs ----------------------------------------------------------------------------------------

def runs_page(runs: Sequence[RunSummary], data_root: Path | None = None, gallery: int = 8, worst: int = 8,
              digits: int = 1, title: str = "thbench report") -> str:
    body = [f"<h1>{_e(title)}</h1>"]
    if len(runs) > 1:
        body += ["<h2>Leaderboard</h2>", leaderboard_section(leaderboard(runs), digits)]
    for run in runs:
        body.append(run_section(run, data_root, gallery, worst, digits))
    return page(title, "\n".join(body))


def run_section(run: RunSummary, data_root: Path | None, gallery: int, worst: int, digits: int) -> str:
    manifest = run.manifest
    environment = manifest.get("environment", {})
    meta = {
        "model": run.model,
        "run folder": str(run.run_dir),
        "model fingerprint": run.adapter_fingerprint,
        "checkpoint": run.checkpoint or "–",
        "adapter options": _json(run.adapter_options),
        "seed": manifest.get("seed"),
        "status": manifest.get("status"),
        "started / finished": f"{manifest.get('started_at')} / {manifest.get('finished_at')}",
        "thbench": f"{environment.get('thbench')} ({environment.get('git_commit')})",
        "packages": ", ".join(f"{k} {v}" for k, v in environment.get("packages", {}).items()),
    }
    parts = [f"<h2>{_e(run.label)}</h2>", _definition_list(meta, "meta")]
    headline_bars = []
    summaries = {task: TaskSummary.from_json(stored) for task, stored in run.tasks.items()}
    for task, summary in summaries.items():
        if summary.headline is not None:
            headline_bars.append(Bar(f"{task} {summary.primary}", summary.headline.display_value, *summary.headline.display_interval))
    if headline_bars:
        parts.append(bar_chart("headline metrics (95% intervals)", headline_bars))
    for task, summary in summaries.items():
        parts.append(task_section(run, task, summary, data_root, gallery, worst, digits))
    return "\n".join(parts)


def task_section(run: RunSummary, task: str, summary: TaskSummary, data_root: Path | None,
                 gallery: int, worst: int, digits: int) -> str:
    manifest = run.task_manifest(task)
    parts = [f"<h3>{_e(task)}</h3>"]
    scoring = manifest.get("scoring", {})
    meta = {
        "samples": f"{summary.n} ({summary.errors} failed, scored as misses)",
        "dataset fingerprint": manifest.get("dataset_fingerprint", "–"),
        "options": _json(manifest.get("config", {}).get("options", {})),
    }
    if "ocr" in scoring:
        meta["OCR engine (scoring)"] = _json(scoring["ocr"])
    parts.append(_definition_list(meta, "meta"))
    parts.append(html_table(metrics_frame(summary, digits)))
    samples = task_samples(run, task, data_root)
    parts.extend(f'<p class="note">{_e(note)}</p>' for note in samples.notes)
    headline = summary.metrics.get(samples.primary) if samples.primary else None
    higher = headline.higher_is_better if headline is not None else True
    if samples.kind == "answer":
        chosen = samples.worst(worst, higher)
        parts.append(f"<h4>{len(chosen)} lowest-scoring of {len(samples.views)} samples (by {_e(samples.primary)})</h4>")
        parts.append(_cards(understanding_card(run, view) for view in chosen))
    else:
        chosen = samples.worst(gallery, higher)
        parts.append(f"<h4>Gallery: {len(chosen)} lowest-scoring of {len(samples.views)} samples (by {_e(samples.primary)})</h4>")
        parts.append(_cards(generation_card(run, view, samples.kind) for view in chosen))
    return "\n".join(parts)


def metrics_frame(summary: TaskSummary, digits: int) -> pd.DataFrame:
    rows = []
    for name, entry in summary.shown_metrics().items():
        low, high = entry.display_interval
        rows.append({
            "metric": name + (" ★" if name == summary.primary else ""),
            "value": f"{entry.display_value:.{digits}f}",
            "95% CI": f"{low:.{digits}f}–{high:.{digits}f}",
            "better": "higher" if entry.higher_is_better else "lower",
            "description": entry.description,
        })
    for name, value in summary.set_metrics.items():
        rows.append({"metric": name, "value": _text("n/a" if value.value is None else value.value), "95% CI": "–", "better": "",
                     "description": "set-level, no per-sample form" + (f": {value.reason}" if value.reason else "")})
    return pd.DataFrame(rows, columns=["metric", "value", "95% CI", "better", "description"])


# -- sample cards --------------------------------------------------------------------------------

def understanding_card(run: RunSummary, view: SampleView) -> str:
    record = view.record
    boxes = _drawn_boxes(view)
    images = [thumbnail_uri(path, boxes=boxes) for path in view.input_images]
    fields: dict[str, Any] = {"id": record.id}
    fields.update(view.reference)
    fields["prediction"] = record.raw if record.raw is not None else "–"
    if record.parsed is not None and _text(record.parsed) != (record.raw or "").strip():
        fields["parsed"] = record.parsed
    fields["scores"] = _scores(record.scores)
    if record.error is not None:
        fields["error"] = f"{record.error.stage}: {record.error.type}: {record.error.message}"
    legend = "green: reference box, red: predicted box" if boxes else ""
    return _card(_images_html(images, view.input_images, legend), fields)


def generation_card(run: RunSummary, view: SampleView, kind: str) -> str:
    record = view.record
    outputs = [thumbnail_uri(run.run_dir / relative, max_side=OUTPUT_THUMBNAIL_SIDE) for relative in record.images]
    parts = []
    if view.input_images and kind == "edit_image":
        inputs = [thumbnail_uri(path, max_side=OUTPUT_THUMBNAIL_SIDE) for path in view.input_images]
        parts.append('<div class="caption">input</div>' + _images_html(inputs, view.input_images, ""))
    parts.append('<div class="caption">output</div>' + _images_html(outputs, [run.run_dir / r for r in record.images], ""))
    fields: dict[str, Any] = {"id": record.id, "prompt": record.prompt}
    fields.update({k: v for k, v in view.reference.items() if k not in ("prompt", "caption", "polygons")})
    fields["OCR reading"] = _reading(record.parsed)
    fields["scores"] = _scores(record.scores)
    if math.isfinite(view.headline):
        fields["headline"] = f"{view.headline:.3f}"
    if record.error is not None:
        fields["error"] = f"{record.error.stage}: {record.error.type}: {record.error.message}"
    return _card("".join(parts), fields)


#: Colours of the boxes a task asks galleries to draw, by role.
BOX_COLOURS = {"reference": "#11aa44", "answer": "#ee2222"}


def _drawn_boxes(view: SampleView) -> list[tuple[tuple[float, ...], str]]:
    return [(box.box, BOX_COLOURS.get(box.role, "#2255ee")) for box in view.boxes]


def _images_html(uris: Sequence[str | None], sources: Sequence[Path], legend: str) -> str:
    if not uris:
        return ""
    tags = []
    for uri, source in zip(uris, sources):
        if uri is None:
            tags.append(f'<div class="missing">image not found: {_e(Path(source).name)}</div>')
        else:
            tags.append(f'<img src="{uri}" alt="{_e(Path(source).name)}">')
    body = f'<div class="images">{"".join(tags)}</div>' if len(tags) > 1 else "".join(tags)
    return body + (f'<div class="tick">{_e(legend)}</div>' if legend else "")


def _card(images: str, fields: dict[str, Any]) -> str:
    return f'<div class="card">{images}{_definition_list(fields)}</div>'


def _cards(cards: Iterable[str]) -> str:
    return f'<div class="cards">{"".join(cards)}</div>'


def _definition_list(fields: dict[str, Any], css_class: str = "") -> str:
    items = "".join(f"<dt>{_e(name)}</dt><dd>{_e(_text(value))}</dd>" for name, value in fields.items())
    return f'<dl class="{css_class}">{items}</dl>' if css_class else f"<dl>{items}</dl>"


# -- comparison ----------------------------------------------------------------------------------

def comparison_page(comparison: Comparison, data_root: Path | None = None, count: int = 8, digits: int = 1) -> str:
    regressions = comparison.regressions()
    title = "thbench compare"
    verdict = (f'<p class="bad">{len(regressions)} significant regression(s)</p>' if regressions
               else '<p class="good">No significant regression</p>')
    body = [f"<h1>{_e(title)}</h1>",
            _definition_list({"base": comparison.base.label, "new": comparison.new.label,
                              "base fingerprint": comparison.base.adapter_fingerprint,
                              "new fingerprint": comparison.new.adapter_fingerprint}, "meta"),
            verdict, html_table(comparison_frame(comparison, digits))]
    method = METHOD.format(resamples=comparison.resamples, alpha=comparison.alpha, max_drop=comparison.max_drop,
                           gate="headline metrics" if comparison.gate == "primary" else "every shown metric")
    body.append(f"<p>{_e(method)}</p>")
    body.extend(f'<p class="note">{_e(note)}</p>' for note in comparison.notes)
    for task in comparison.tasks:
        body.append(f"<h2>{_e(task.task)}</h2>")
        if task.only_base or task.only_new:
            body.append(f'<p class="note">{len(task.only_base)} sample(s) only in base: {_e(", ".join(task.only_base[:20]))}; '
                        f'{len(task.only_new)} only in new: {_e(", ".join(task.only_new[:20]))}</p>')
        body.extend(f'<p class="note">{_e(note)}</p>' for note in task.notes)
        body.append(_changed_samples(comparison, task.task, count, data_root))
    return page(title, "\n".join(body))


def _changed_samples(comparison: Comparison, task: str, count: int, data_root: Path | None) -> str:
    task_comparison = next(t for t in comparison.tasks if t.task == task)
    changed = [c for c in task_comparison.changes if c.changed]
    higher = next((m.higher_is_better for m in task_comparison.metrics if m.primary), True)
    if not changed:
        return "<p>No sample changed its headline score.</p>"
    changed.sort(key=lambda c: c.gain(higher))
    base_loaded, new_loaded = task_samples(comparison.base, task, data_root), task_samples(comparison.new, task, data_root)
    notes = "".join(f'<p class="note">{_e(note)}</p>' for note in dict.fromkeys(new_loaded.notes + base_loaded.notes))
    base_samples, new_samples = _by_key(base_loaded), _by_key(new_loaded)
    chosen = [c for c in changed if c.key in base_samples and c.key in new_samples][:count]
    gains = [c.gain(higher) for c in changed]
    worse, better = sum(-math.inf < g < 0 for g in gains), sum(g > 0 for g in gains)
    cards = []
    for sample_id, key, before, after in chosen:
        base_view, new_view = base_samples[key], new_samples[key]
        images = [thumbnail_uri(path, boxes=_drawn_boxes(new_view)) for path in new_view.input_images]
        fields: dict[str, Any] = {"id": sample_id}
        fields.update(new_view.reference)
        fields["base output"] = _output_text(base_view)
        fields["new output"] = _output_text(new_view)
        fields["headline"] = f"{before:.3f} → {after:.3f}"
        outputs = ""
        if new_view.record.images or base_view.record.images:
            base_images = [thumbnail_uri(comparison.base.run_dir / r, max_side=OUTPUT_THUMBNAIL_SIDE) for r in base_view.record.images[:2]]
            new_images = [thumbnail_uri(comparison.new.run_dir / r, max_side=OUTPUT_THUMBNAIL_SIDE) for r in new_view.record.images[:2]]
            outputs = ('<div class="caption">base</div>' + _images_html(base_images, [Path(r) for r in base_view.record.images[:2]], "")
                       + '<div class="caption">new</div>' + _images_html(new_images, [Path(r) for r in new_view.record.images[:2]], ""))
        cards.append(_card(_images_html(images, new_view.input_images, "") + outputs, fields))
    unscored = len(changed) - worse - better
    split = f"{worse} worse, {better} better" + (f", {unscored} with a score on one side only" if unscored else "")
    heading = (f"Largest changes in the headline score: {len(cards)} shown of the {len(changed)} samples that changed "
               f"({split}) among {len(task_comparison.changes)} shared")
    return f"<h3>{_e(heading)}</h3>" + notes + _cards(cards)


def _by_key(samples: TaskSamples) -> dict[str, SampleView]:
    return {view.record.key: view for view in samples.views}


def _output_text(view: SampleView) -> str:
    if view.record.images:
        return f"OCR: {_text(_reading(view.record.parsed))}"
    return view.record.raw if view.record.raw is not None else "–"


# -- values --------------------------------------------------------------------------------------

def _reading(parsed: Any) -> str:
    """An OCR reading per output image: a list of words or lines per image."""
    if isinstance(parsed, list) and parsed and all(isinstance(item, list) for item in parsed):
        return "\n".join(f"image {i + 1}: {' '.join(map(str, item)) or '∅'}" for i, item in enumerate(parsed))
    if isinstance(parsed, list):
        return "\n".join(f"image/line {i + 1}: {item}" for i, item in enumerate(parsed))
    return _text(parsed)


def _scores(scores: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.3g}" for name, value in scores.items())


def _text(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, str):
        text = value
    elif isinstance(value, float):
        text = f"{value:.4g}"
    elif isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        text = " | ".join(value)
    else:
        text = _json(value)
    return text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 1] + "…"


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, separators=(", ", ": "))


def _float(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return float("nan")
    return number


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)
