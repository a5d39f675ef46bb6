"""Tables of display strings in the formats papers and CI comments take."""

from __future__ import annotations

import html
from typing import Literal

import pandas as pd

TextFormat = Literal["md", "csv", "latex", "html"]


def render_strings(frame: pd.DataFrame, fmt: TextFormat) -> str:
    """Render a frame whose cells are already display strings."""
    if fmt == "md":
        return markdown_table(frame)
    if fmt == "csv":
        return frame.to_csv(index=False)
    if fmt == "latex":
        return latex_table(frame)
    if fmt == "html":
        return html_table(frame)
    raise ValueError(f"unknown format {fmt!r}; use md, csv, latex or html")


def markdown_table(frame: pd.DataFrame) -> str:
    header = [_markdown_cell(c) for c in frame.columns]
    rows = [[_markdown_cell(v) for v in row] for row in frame.itertuples(index=False)]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"

    separator = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), separator, *(line(r) for r in rows)]) + "\n"


def _markdown_cell(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def latex_table(frame: pd.DataFrame) -> str:
    """A booktabs tabular; every cell escaped, so model names with ``_`` or ``%`` compile."""
    columns = "l" * len(frame.columns)
    lines = [f"\\begin{{tabular}}{{{columns}}}", "\\toprule",
             " & ".join(latex_escape(str(c)) for c in frame.columns) + " \\\\", "\\midrule"]
    lines += [" & ".join(latex_escape(str(v)) for v in row) + " \\\\" for row in frame.itertuples(index=False)]
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


def latex_escape(text: str) -> str:
    replacements = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                    "–": "--", "<": r"\textless{}", ">": r"\textgreater{}"}
    return "".join(replacements.get(ch, ch) for ch in text)


def html_table(frame: pd.DataFrame, css_class: str = "scores") -> str:
    """A table fragment; every header and cell escaped."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f'<table class="{html.escape(css_class)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>\n'
