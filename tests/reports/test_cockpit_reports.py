"""The cockpit's Reports page lists what reports/daily_report wrote and serves each page."""

from __future__ import annotations

from pathlib import Path

from tests.cockpit.conftest import make_client


def test_the_reports_page_lists_and_serves_the_written_reports(trading_home: Path) -> None:
    with make_client() as client:
        empty = client.get("/reports")
        assert empty.status_code == 200 and 'id="no-reports"' in empty.text
        folder = trading_home / "reports"
        folder.mkdir(exist_ok=True)
        for stem in (
            "daily_report_2025-03-02",
            "daily_report_2025-03-03",
            "weekly_report_2025-W10",
        ):
            (folder / f"{stem}.html").write_text(f"<html><body>{stem}</body></html>")
        (folder / "notes.html").write_text("not a report")
        listing = client.get("/reports")
        assert listing.status_code == 200 and '<a href="/reports">Reports</a>' not in listing.text
        links = [part.split('"')[0] for part in listing.text.split('href="/reports/')[1:]]
        assert links == [
            "daily_report_2025-03-03",
            "daily_report_2025-03-02",
            "weekly_report_2025-W10",
        ]
        page = client.get("/reports/daily_report_2025-03-03")
        assert page.status_code == 200 and "daily_report_2025-03-03" in page.text
        for bad in ("notes", "daily_report_2025-03-04", "..%2Fledger", "daily_report_x"):
            assert client.get(f"/reports/{bad}").status_code == 404
