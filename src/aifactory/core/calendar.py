"""Working-day calendar for access-call decision deadlines.

Pure: national public holidays come from the ``holidays`` library (data, no I/O); the site adds
its own closures (``extra_closed``) and the public holidays it works anyway (``extra_open``).
No clock: every question names its dates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from types import MappingProxyType

import holidays
from dateutil.relativedelta import relativedelta

SITE_CLOSURE = "site closure"
_ONE_DAY = timedelta(days=1)


@lru_cache(maxsize=1)
def _supported_countries() -> frozenset[str]:
    return frozenset(holidays.list_supported_countries())


@lru_cache(maxsize=256)
def _public_holidays(country: str, year: int) -> Mapping[date, str]:
    """The country's public holidays of one year, names in English where the library has them."""
    found = holidays.country_holidays(country, years=year, language="en_US")
    return MappingProxyType({day: str(name) for day, name in found.items()})


def calendar_problem(country: str) -> str | None:
    """None if the ``holidays`` library knows ``country``, else a sentence saying what is wrong."""
    if country in _supported_countries():
        return None
    if country.upper() in _supported_countries():
        return f"Country code {country!r} must be upper case: {country.upper()!r}."
    return (
        f"No public-holiday calendar for country {country!r}; "
        "use an ISO 3166-1 alpha-2 code such as 'LU', 'FI', 'ES' or 'DE'."
    )


def add_months(day: date, months: int) -> date:
    """``day`` plus calendar months, clamped to the last day of the target month."""
    result: date = day + relativedelta(months=months)
    return result


@dataclass(frozen=True)
class WorkingCalendar:
    """Working days of one site: weekdays minus public holidays and closures, plus extra openings.

    ``extra_closed`` wins over everything; ``extra_open`` makes a day a working day even if it is
    a public holiday or a weekend day. A date may not be in both.
    """

    country: str
    extra_closed: frozenset[date] = frozenset()
    extra_open: frozenset[date] = frozenset()
    weekend: frozenset[int] = frozenset({5, 6})

    def __post_init__(self) -> None:
        problem = calendar_problem(self.country)
        if problem is not None:
            raise ValueError(problem)
        if not self.weekend <= set(range(7)):
            raise ValueError(
                f"Weekend days must be weekday numbers 0..6, got {sorted(self.weekend)}."
            )
        if len(self.weekend) == 7:
            raise ValueError("A week needs at least one working day; the weekend covers all seven.")
        both = self.extra_closed & self.extra_open
        if both:
            listed = ", ".join(d.isoformat() for d in sorted(both)[:5])
            raise ValueError(f"Dates both closed and open: {listed}.")

    def _public_holiday(self, day: date) -> str | None:
        return _public_holidays(self.country, day.year).get(day)

    def is_working_day(self, day: date) -> bool:
        if day in self.extra_closed:
            return False
        if day in self.extra_open:
            return True
        return day.weekday() not in self.weekend and self._public_holiday(day) is None

    def holiday_name(self, day: date) -> str | None:
        """The public holiday's name, ``"site closure"``, or None (also for a plain weekend)."""
        if day in self.extra_closed:
            return SITE_CLOSURE
        if day in self.extra_open:
            return None
        return self._public_holiday(day)

    def add_working_days(self, start: date, n: int) -> date:
        """The ``n``-th working day after ``start`` (``start`` not counted).

        ``n == 0`` gives ``start`` if it is a working day, else the next working day.
        """
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}.")
        day = start
        if n == 0:
            while not self.is_working_day(day):
                day += _ONE_DAY
            return day
        while n > 0:
            day += _ONE_DAY
            if self.is_working_day(day):
                n -= 1
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in ``(start, end]``; 0 when ``end <= start``."""
        count = 0
        day = start + _ONE_DAY
        while day <= end:
            count += self.is_working_day(day)
            day += _ONE_DAY
        return count
