"""The leaderboard frame in each output format.

Apart from ``leaderboard`` because the HTML page is drawn by ``html``, which itself builds on
the leaderboard's frame: dispatching here keeps both modules free of each other.
"""

from __future__ import annotations

import pandas as pd

from bench.report.html import leaderboard_page
from bench.report.leaderboard import Format, display_frame
from bench.report.tables import render_strings


def render(frame: pd.DataFrame, fmt: Format = "md", digits: int = 1) -> str:
    """The leaderboard as text; ``html`` is a complete self-contained page with a bar chart."""
    if fmt == "csv":
        return frame.to_csv(index=False, float_format=f"%.{digits + 2}f")
    if fmt == "html":
        return leaderboard_page(frame, digits=digits)
    return render_strings(display_frame(frame, digits), fmt)
