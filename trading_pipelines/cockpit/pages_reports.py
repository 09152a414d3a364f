"""The reports page: the reports reports/daily_report wrote under $TRADING_HOME/reports
(daily, weekly, monthly; newest first) and each one's self-contained HTML page. Only names the
report writer makes are served (no path reaches outside the folder)."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse

from trading_pipelines.cockpit.api import cockpit_of
from trading_pipelines.cockpit.html import page, text

REPORT_NAME = re.compile(
    r"^(daily|weekly|monthly)_report_(\d{4}-\d{2}-\d{2}|\d{4}-W\d{2}|\d{4}-\d{2})$"
)


PERIOD_ORDER = {"daily": 0, "weekly": 1, "monthly": 2}


def _folder(request: Request) -> Path:
    return cockpit_of(request).paths.reports


def reports(request: Request) -> str:
    folder = _folder(request)
    stems = [p.stem for p in folder.glob("*_report_*.html") if REPORT_NAME.match(p.stem)]
    # daily, then weekly, then monthly; newest first within each
    found = sorted(stems, key=lambda stem: stem.rsplit("_", 1)[1], reverse=True)
    found.sort(key=lambda stem: PERIOD_ORDER[stem.split("_", 1)[0]])
    if not found:
        body = (
            f'<p id="no-reports">No report yet in {text(folder)}: materialize '
            "reports/daily_report in Dagster (its schedule writes yesterday's after midnight).</p>"
        )
        return page("/reports", "Reports", body)
    items = "".join(
        f'<li><a href="/reports/{text(stem)}">{text(stem.replace("_", " "))}</a></li>'
        for stem in found
    )
    return page("/reports", "Reports", f'<ul id="reports">{items}</ul>')


def report(request: Request, name: str) -> str:
    path = _folder(request) / f"{name}.html"
    if not REPORT_NAME.match(name) or not path.is_file():
        raise HTTPException(404, f"no report {name!r}")
    return path.read_text()


def build_report_pages() -> APIRouter:
    router = APIRouter()
    router.add_api_route("/reports", reports, methods=["GET"], response_class=HTMLResponse)
    router.add_api_route("/reports/{name}", report, methods=["GET"], response_class=HTMLResponse)
    return router
