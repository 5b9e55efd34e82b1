"""Working-day calendar: weekends, national holidays, site closures and openings, month maths."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aifactory.core.calendar import WorkingCalendar, add_months, calendar_problem

D = date.fromisoformat

# (case, calendar, start, n, expected)
ADD = [
    ("fri + 1 = mon", WorkingCalendar("LU"), D("2026-11-13"), 1, D("2026-11-16")),
    ("fri + 5 = next fri", WorkingCalendar("LU"), D("2026-11-13"), 5, D("2026-11-20")),
    ("sat + 1 = mon", WorkingCalendar("LU"), D("2026-11-14"), 1, D("2026-11-16")),
    # LU: Christmas Fri 25, St Stephen's Sat 26
    ("LU christmas", WorkingCalendar("LU"), D("2026-12-24"), 1, D("2026-12-28")),
    ("LU over year end", WorkingCalendar("LU"), D("2026-12-31"), 1, D("2027-01-04")),
    # FI: Christmas Eve Thu 24, Christmas Fri 25
    ("FI christmas", WorkingCalendar("FI"), D("2026-12-23"), 1, D("2026-12-28")),
    # ES: Immaculate Conception Tue 8
    ("ES immaculada", WorkingCalendar("ES"), D("2026-12-07"), 1, D("2026-12-09")),
    # DE: Christmas Fri 25 (German Unity Day 2026-10-03 is a Saturday: no effect)
    ("DE christmas", WorkingCalendar("DE"), D("2026-12-24"), 1, D("2026-12-28")),
    ("DE unity on sat", WorkingCalendar("DE"), D("2026-10-02"), 1, D("2026-10-05")),
    ("DE no LU holiday", WorkingCalendar("DE"), D("2026-06-22"), 1, D("2026-06-23")),
    ("LU national day", WorkingCalendar("LU"), D("2026-06-22"), 1, D("2026-06-24")),
    (
        "closure",
        WorkingCalendar("LU", extra_closed=frozenset({D("2026-11-16")})),
        D("2026-11-13"),
        1,
        D("2026-11-17"),
    ),
    (
        "works on christmas",
        WorkingCalendar("LU", extra_open=frozenset({D("2026-12-25")})),
        D("2026-12-24"),
        1,
        D("2026-12-25"),
    ),
    (
        "fri-sat weekend",
        WorkingCalendar("LU", weekend=frozenset({4, 5})),
        D("2026-11-12"),
        1,
        D("2026-11-15"),
    ),
    ("n 0 on working day", WorkingCalendar("LU"), D("2026-11-13"), 0, D("2026-11-13")),
    ("n 0 on saturday", WorkingCalendar("LU"), D("2026-11-14"), 0, D("2026-11-16")),
    ("n 0 on holiday", WorkingCalendar("LU"), D("2026-12-25"), 0, D("2026-12-28")),
]


@pytest.mark.parametrize(("case", "cal", "start", "n", "expected"), ADD, ids=[c[0] for c in ADD])
def test_add_working_days(
    case: str, cal: WorkingCalendar, start: date, n: int, expected: date
) -> None:
    assert cal.add_working_days(start, n) == expected


# (case, calendar, day, working?, holiday name)
DAYS = [
    ("LU christmas", WorkingCalendar("LU"), D("2026-12-25"), False, "Christmas Day"),
    ("LU st stephen", WorkingCalendar("LU"), D("2026-12-26"), False, "Saint Stephen's Day"),
    ("FI christmas eve", WorkingCalendar("FI"), D("2026-12-24"), False, "Christmas Eve"),
    ("ES immaculada", WorkingCalendar("ES"), D("2026-12-08"), False, "Immaculate Conception"),
    ("DE christmas", WorkingCalendar("DE"), D("2026-12-25"), False, "Christmas Day"),
    ("plain weekday", WorkingCalendar("DE"), D("2026-12-23"), True, None),
    ("plain saturday", WorkingCalendar("DE"), D("2026-12-19"), False, None),
    (
        "site closure",
        WorkingCalendar("FI", extra_closed=frozenset({D("2026-12-23")})),
        D("2026-12-23"),
        False,
        "site closure",
    ),
    (
        "open on holiday",
        WorkingCalendar("ES", extra_open=frozenset({D("2026-12-08")})),
        D("2026-12-08"),
        True,
        None,
    ),
]


@pytest.mark.parametrize(("case", "cal", "day", "working", "name"), DAYS, ids=[c[0] for c in DAYS])
def test_is_working_day_and_holiday_name(
    case: str, cal: WorkingCalendar, day: date, working: bool, name: str | None
) -> None:
    assert cal.is_working_day(day) is working
    assert cal.holiday_name(day) == name


# (case, calendar, start, end, working days in (start, end])
BETWEEN = [
    ("same day", WorkingCalendar("LU"), D("2026-11-13"), D("2026-11-13"), 0),
    ("end before start", WorkingCalendar("LU"), D("2026-11-16"), D("2026-11-13"), 0),
    ("fri to mon", WorkingCalendar("LU"), D("2026-11-13"), D("2026-11-16"), 1),
    ("one week", WorkingCalendar("LU"), D("2026-11-13"), D("2026-11-20"), 5),
    ("LU christmas week", WorkingCalendar("LU"), D("2026-12-20"), D("2026-12-27"), 4),
    ("FI christmas week", WorkingCalendar("FI"), D("2026-12-20"), D("2026-12-27"), 3),
    (
        "closure counted out",
        WorkingCalendar("LU", extra_closed=frozenset({D("2026-11-18")})),
        D("2026-11-13"),
        D("2026-11-20"),
        4,
    ),
]


@pytest.mark.parametrize(
    ("case", "cal", "start", "end", "expected"), BETWEEN, ids=[c[0] for c in BETWEEN]
)
def test_working_days_between(
    case: str, cal: WorkingCalendar, start: date, end: date, expected: int
) -> None:
    assert cal.working_days_between(start, end) == expected


MONTHS = [
    (D("2026-01-31"), 1, D("2026-02-28")),
    (D("2026-11-30"), 3, D("2027-02-28")),
    (D("2027-11-30"), 3, D("2028-02-29")),
    (D("2026-03-15"), 0, D("2026-03-15")),
    (D("2026-03-31"), -1, D("2026-02-28")),
    (D("2026-05-31"), 12, D("2027-05-31")),
]


@pytest.mark.parametrize(("start", "months", "expected"), MONTHS)
def test_add_months_clamps_to_month_end(start: date, months: int, expected: date) -> None:
    assert add_months(start, months) == expected


def test_unknown_country_is_refused() -> None:
    with pytest.raises(ValueError, match="'XX'"):
        WorkingCalendar("XX")
    problem = calendar_problem("XX")
    assert problem is not None and len(problem) < 200
    assert calendar_problem("LU") is None
    assert "upper case" in (calendar_problem("lu") or "")


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match="n must be >= 0"):
        WorkingCalendar("LU").add_working_days(D("2026-11-13"), -1)
    with pytest.raises(ValueError, match="both closed and open"):
        WorkingCalendar(
            "LU", extra_closed=frozenset({D("2026-12-25")}), extra_open=frozenset({D("2026-12-25")})
        )
    with pytest.raises(ValueError, match="seven"):
        WorkingCalendar("LU", weekend=frozenset(range(7)))
    with pytest.raises(ValueError, match=r"0\.\.6"):
        WorkingCalendar("LU", weekend=frozenset({7}))


CALENDARS = [
    WorkingCalendar("LU"),
    WorkingCalendar("FI"),
    WorkingCalendar("ES"),
    WorkingCalendar("DE", extra_closed=frozenset({D("2026-12-28"), D("2026-12-29")})),
]


@given(
    cal=st.sampled_from(CALENDARS),
    start=st.dates(min_value=D("2020-01-01"), max_value=D("2035-12-31")),
    n=st.integers(min_value=0, max_value=60),
)
def test_add_working_days_properties(cal: WorkingCalendar, start: date, n: int) -> None:
    result = cal.add_working_days(start, n)
    assert cal.is_working_day(result)
    if n == 0:
        assert result >= start
        assert all(
            not cal.is_working_day(start + timedelta(days=i)) for i in range((result - start).days)
        )
    else:
        assert result > start
        assert cal.working_days_between(start, result) == n
        assert cal.working_days_between(start, result - timedelta(days=1)) == n - 1
