"""Readable research reports: one Markdown file plus PNG charts in a directory.

Charts are drawn on matplotlib's Agg canvas (no display, no pyplot global state).
``Report`` collects headings, paragraphs, tables and charts and writes ``report.md``; the
charts sit next to it and the Markdown links them by file name, so the directory can be
moved or attached as a whole.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def _figure(title: str) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    return figure, axes


def _save(figure: Any, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, format="png")
    return path


def line_chart(
    path: Path,
    series: Mapping[str, pd.Series],
    title: str,
    ylabel: str,
    marks: Sequence[Any] = (),
    logy: bool = False,
) -> Path:
    """Lines (index on x), optional vertical ``marks`` (fold boundaries)."""
    figure, axes = _figure(title)
    for name, values in series.items():
        axes.plot(values.index, values.to_numpy(dtype=float), label=name, linewidth=1.0)
    for mark in marks:
        axes.axvline(mark, color="grey", linewidth=0.6, linestyle=":")
    if logy:
        axes.set_yscale("log")
    axes.set_ylabel(ylabel)
    if len(series) > 1:
        axes.legend()
    return _save(figure, path)


def histogram(
    path: Path, values: np.ndarray, title: str, xlabel: str, observed: float | None = None
) -> Path:
    """A histogram of ``values``, the observed value as a red line."""
    figure, axes = _figure(title)
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    axes.hist(finite, bins=min(60, max(10, int(math.sqrt(max(finite.size, 1))))), color="#4477aa")
    if observed is not None and math.isfinite(observed):
        axes.axvline(observed, color="red", linewidth=1.5, label=f"observed {observed:+.3f}")
        axes.legend()
    axes.set_xlabel(xlabel)
    axes.set_ylabel("runs")
    return _save(figure, path)


def scatter(
    path: Path,
    x: np.ndarray,
    y: np.ndarray,
    title: str,
    xlabel: str,
    ylabel: str,
    highlight: tuple[np.ndarray, np.ndarray] | None = None,
) -> Path:
    figure, axes = _figure(title)
    axes.scatter(np.asarray(x, dtype=float), np.asarray(y, dtype=float), s=10, alpha=0.6)
    if highlight is not None:
        axes.scatter(*highlight, s=30, color="red", label="Pareto front")
        axes.legend()
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    return _save(figure, path)


def _cell(value: Any) -> str:
    if isinstance(value, float | np.floating):
        if not math.isfinite(value):
            return "—"
        return f"{value:.4g}"
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return str(value).replace("|", "\\|")


def markdown_table(frame: pd.DataFrame, index: bool = False) -> str:
    """A GitHub-flavoured Markdown table (floats to 4 significant digits, NaN as —)."""
    table = frame.reset_index() if index else frame
    head = "| " + " | ".join(str(c) for c in table.columns) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    rows = [
        "| " + " | ".join(_cell(v) for v in row) + " |" for row in table.itertuples(index=False)
    ]
    return "\n".join([head, rule, *rows])


class Report:
    """A Markdown report being written to ``directory`` (created)."""

    def __init__(self, directory: Path, title: str) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.parts: list[str] = [f"# {title}", ""]

    def chart_path(self, name: str) -> Path:
        return self.directory / f"{name}.png"

    def heading(self, text: str) -> None:
        self.parts += [f"## {text}", ""]

    def text(self, text: str) -> None:
        self.parts += [text, ""]

    def bullets(self, items: Sequence[str]) -> None:
        self.parts += [*(f"- {item}" for item in items), ""]

    def table(self, frame: pd.DataFrame, index: bool = False) -> None:
        self.parts += [markdown_table(frame, index), ""]

    def image(self, path: Path, caption: str) -> None:
        self.parts += [f"![{caption}]({path.name})", ""]

    def write(self) -> Path:
        target = self.directory / "report.md"
        target.write_text("\n".join(self.parts))
        return target


def verdict_lines(overfitting: Mapping[str, Any]) -> list[str]:
    """The robustness verdict in words (``research.overfitting.robustness``'s dict): a
    headline, then one line per failed test."""
    if overfitting.get("robust"):
        return ["ROBUST by every test run (PBO, deflated Sharpe, IS/OOS correlation)"]
    reasons = [f"  - {reason}" for reason in overfitting.get("reasons", [])]
    return ["NOT ROBUST - this result does not generalise:", *reasons]


def verdict_markdown(overfitting: Mapping[str, Any]) -> str:
    head, *reasons = verdict_lines(overfitting)
    return "\n".join([f"**{head}**", "", *(r.strip() for r in reasons)])
