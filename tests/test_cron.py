"""cron: the schedules of Argo CD sync windows, checked before they reach a cluster."""
from __future__ import annotations

import pytest

from phoenix_gitops.cron import cron_problem


@pytest.mark.parametrize("schedule", [
    "0 18 * * 5", "*/15 8-18 * * mon-fri", "0 0 1 jan,jul *", "30 2 * * 0,7", "0 0 1-7/2 * *", "@daily", "@WEEKLY",
])
def test_a_valid_schedule_has_no_problem(schedule):
    assert cron_problem(schedule) is None


@pytest.mark.parametrize(("schedule", "problem"), [
    ("0 25 * * *", "'0 25 * * *': hour: 25 is not in 0-23"),
    ("0 0 * *", "'0 0 * *': 4 field(s); a schedule has 5 (minute hour day-of-month month day-of-week)"),
    ("0 0 * * * *", "'0 0 * * * *': 6 field(s); a schedule has 5"),
    ("0 0 * * 8", "'0 0 * * 8': day of week: 8 is not in 0-6"),
    ("0 0 0 * *", "'0 0 0 * *': day of month: 0 is not in 1-31"),
    ("0 0 * 13 *", "'0 0 * 13 *': month: 13 is not in 1-12"),
    ("5-1 * * * *", "'5-1 * * * *': minute: '5-1': the range runs backwards"),
    ("*/0 * * * *", "'*/0 * * * *': minute: '*/0': a step of 0"),
    ("x * * * *", "'x * * * *': minute: 'x' is not a minute"),
    ("0 0 * * fri-mon", "'0 0 * * fri-mon': day of week: 'fri-mon': the range runs backwards"),
    ("0 0 * * 1;2", "'0 0 * * 1;2': day of week: '1;2' is not a number, a name, `*`, a range or a step"),
    ("@often", "'@often': unknown descriptor (use one of @yearly"),
])
def test_a_bad_schedule_says_what_is_wrong(schedule, problem):
    found = cron_problem(schedule)
    assert found is not None and found.startswith(problem), found
