"""Cron schedules as Argo CD's sync windows read them: five fields or a descriptor, checked before they reach
a cluster (Argo CD would reject the AppProject, or never open the window).

Usage:
    cron_problem("0 22 * * 5")       # None: 22:00 every Friday
    cron_problem("0 25 * * *")       # "hour: 25 is not in 0-23"
"""
from __future__ import annotations

import re

__all__ = ["DESCRIPTORS", "cron_problem"]

DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 6, _DAYS),
)
_ITEM = re.compile(r"^(?P<range>\*|[0-9a-z]+(?:-[0-9a-z]+)?)(?:/(?P<step>[0-9]+))?$")


def cron_problem(schedule: str) -> str | None:
    """What is wrong with `schedule` (None when nothing is): five fields (minute hour day-of-month month
    day-of-week; numbers, names of months and days, `*`, ranges, steps and lists) or a descriptor."""
    text = schedule.strip().lower()
    if text.startswith("@"):
        known = text in DESCRIPTORS
        return None if known else f"{schedule!r}: unknown descriptor (use one of {', '.join(DESCRIPTORS)})"
    fields = text.split()
    if len(fields) != len(_FIELDS):
        return f"{schedule!r}: {len(fields)} field(s); a schedule has 5 (minute hour day-of-month month day-of-week)"
    for value, (what, low, high, names) in zip(fields, _FIELDS, strict=True):
        for item in value.split(","):
            problem = _item_problem(item, what, low, high, names)
            if problem:
                return f"{schedule!r}: {what}: {problem}"
    return None


def _item_problem(item: str, what: str, low: int, high: int, names: tuple[str, ...]) -> str | None:
    found = _ITEM.match(item)
    if found is None:
        return f"{item!r} is not a number, a name, `*`, a range or a step"
    if found["step"] is not None and int(found["step"]) == 0:
        return f"{item!r}: a step of 0"
    if found["range"] == "*":
        return None
    bounds = []
    for part in found["range"].split("-"):
        number = names.index(part) + low if part in names else None  # (jan is 1, sun is 0)
        if number is None and not part.isdigit():
            return f"{part!r} is not a {what}"
        number = int(part) if number is None else number
        if not low <= number <= high and not (names is _DAYS and number == 7):  # (7 is Sunday too)
            return f"{number} is not in {low}-{high}"
        bounds.append(number)
    if len(bounds) == 2 and bounds[0] > bounds[1]:
        return f"{item!r}: the range runs backwards"
    return None
