"""A report as Markdown (charts as PNG files next to it) and as one self-contained HTML page
(charts embedded as data URIs). Long tables are cut at ``MAX_ROWS`` rows, saying so."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from trading_core.reports.llm import LlmSummary
from trading_core.reports.rules import Finding
from trading_core.reports.window import ReportWindow

MAX_ROWS = 200
LEVEL_MARK = {"info": "ℹ️", "warning": "⚠️", "critical": "🛑"}


@dataclass(frozen=True)
class Chart:
    name: str  # file name of the PNG, next to the Markdown
    title: str
    png: bytes


@dataclass(frozen=True)
class ReportContent:
    window: ReportWindow
    headline: str
    findings: Sequence[Finding]
    charts: Sequence[Chart]
    # (section title, table, text when empty), in reading order
    tables: Sequence[tuple[str, pd.DataFrame, str]]
    conventions: str
    generated_at: str
    llm: LlmSummary | None = None
    notes: Sequence[str] = field(default_factory=tuple)

    @property
    def title(self) -> str:
        return f"{self.window.period.capitalize()} report — {self.window.label} (UTC)"


def _cut(frame: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
    if len(frame) <= MAX_ROWS:
        return frame, None
    return frame.head(MAX_ROWS), f"first {MAX_ROWS} of {len(frame)} rows"


def _llm_lines(llm: LlmSummary | None) -> list[str]:
    if llm is None:
        return []
    if llm.text is None:
        return [f"_LLM summary ({llm.provider}) unavailable: {llm.error}_", ""]
    return [f"**LLM summary** ({llm.provider}, written from the numbers above):", "", llm.text, ""]


def markdown(content: ReportContent, *, image_src: dict[str, str] | None = None) -> str:
    """The report in Markdown; ``image_src`` replaces a chart's file name (e.g. a data URI)."""
    src = image_src or {}
    lines = [f"# {content.title}", "", f"_{content.window.describe()}; generated "
             f"{content.generated_at} UTC._", ""]  # fmt: skip
    lines += ["## Summary", "", f"**{content.headline}**", ""]
    for f in content.findings:
        lines.append(f"- {LEVEL_MARK[f.level]} **{f.level}** {f.text}")
        if f.recommendation:
            lines.append(f"  - _Recommendation:_ {f.recommendation}")
    lines.append("")
    lines += _llm_lines(content.llm)
    for chart in content.charts:
        lines += [
            f"## {chart.title}",
            "",
            f"![{chart.title}]({src.get(chart.name, chart.name)})",
            "",
        ]
    for title, frame, empty in content.tables:
        shown, cut = _cut(frame)
        lines += [f"## {title}", ""]
        if len(shown):
            lines += [shown.to_markdown(index=False, floatfmt=".6g"), ""]
            if cut:
                lines += [f"_{cut}_", ""]
        else:
            lines += [f"_{empty}_", ""]
    lines += ["## Conventions", "", content.conventions, ""]
    lines += [f"- {note}" for note in content.notes]
    return "\n".join(lines).rstrip() + "\n"


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


STYLE = """body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;
color:#222}table{border-collapse:collapse;font-size:.85em;margin:.5em 0}td,th{border:1px solid
#ccc;padding:2px 6px;text-align:right}th{background:#f3f3f3}li.warning{color:#8a5a00}
li.critical{color:#a00000;font-weight:bold}img{max-width:100%}.note{color:#666}"""


def to_html(content: ReportContent) -> str:
    """One self-contained page: every chart embedded, every text escaped."""
    e = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{e(content.title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{e(content.title)}</h1>",
        f"<p class='note'>{e(content.window.describe())}; generated "
        f"{e(content.generated_at)} UTC.</p>",
        f"<h2>Summary</h2><p><strong>{e(content.headline)}</strong></p><ul>",
    ]
    for f in content.findings:
        rec = f"<br><em>Recommendation:</em> {e(f.recommendation)}" if f.recommendation else ""
        parts.append(f"<li class='{f.level}'><strong>{f.level}</strong> {e(f.text)}{rec}</li>")
    parts.append("</ul>")
    if content.llm is not None:
        body = content.llm.text or f"unavailable: {content.llm.error}"
        parts.append(f"<h3>LLM summary ({e(content.llm.provider)})</h3><p>{e(body)}</p>")
    for chart in content.charts:
        parts.append(
            f"<h2>{e(chart.title)}</h2><img alt='{e(chart.title)}' src='{data_uri(chart.png)}'>"
        )
    for title, frame, empty in content.tables:
        shown, cut = _cut(frame)
        parts.append(f"<h2>{e(title)}</h2>")
        if len(shown):
            parts.append(shown.to_html(index=False, escape=True, float_format="{:.6g}".format))
            if cut:
                parts.append(f"<p class='note'>{e(cut)}</p>")
        else:
            parts.append(f"<p class='note'>{e(empty)}</p>")
    parts.append(f"<h2>Conventions</h2><p>{e(content.conventions)}</p><ul>")
    parts += [f"<li>{e(note)}</li>" for note in content.notes]
    parts.append("</ul></body></html>")
    return "\n".join(parts)
