"""The window of a report: a UTC day, the ISO week or the calendar month ending on a day.

A window is half-open, ``[start, end)``, in naive UTC. A weekly report dated on a day covers
Monday to that day's Sunday; a monthly one the whole calendar month; both are final once their
last day is over (the daily asset writes them on that last day)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

Period = Literal["daily", "weekly", "monthly"]
PERIODS: tuple[Period, ...] = ("daily", "weekly", "monthly")


@dataclass(frozen=True)
class ReportWindow:
    period: Period
    first_day: date
    last_day: date

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first_day, datetime.min.time())

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last_day + timedelta(days=1), datetime.min.time())

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    @property
    def label(self) -> str:
        if self.period == "daily":
            return self.first_day.isoformat()
        if self.period == "weekly":
            year, week, _ = self.first_day.isocalendar()
            return f"{year}-W{week:02d}"
        return f"{self.first_day:%Y-%m}"

    def describe(self) -> str:
        return (
            f"{self.period} report {self.label}: {self.start:%Y-%m-%d %H:%M} to "
            f"{self.end:%Y-%m-%d %H:%M} UTC (end excluded, {self.days} day(s))"
        )


def window_for(period: str, day: date) -> ReportWindow:
    """The ``period`` window that contains ``day``."""
    if period not in PERIODS:
        raise ValueError(f"period must be one of {list(PERIODS)}, got {period!r}")
    if not isinstance(day, date) or isinstance(day, datetime):
        raise ValueError(f"day must be a date, got {day!r}")
    if period == "daily":
        return ReportWindow("daily", day, day)
    if period == "weekly":
        monday = day - timedelta(days=day.weekday())
        return ReportWindow("weekly", monday, monday + timedelta(days=6))
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return ReportWindow("monthly", first, following - timedelta(days=1))


def windows_ending_on(day: date) -> list[ReportWindow]:
    """The daily window of ``day``, plus the weekly one on a Sunday and the monthly one on a
    month's last day: the reports that are complete once ``day`` is over."""
    out = [window_for("daily", day)]
    for period in ("weekly", "monthly"):
        window = window_for(period, day)
        if window.last_day == day:
            out.append(window)
    return out
