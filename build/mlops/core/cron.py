"""The five-field unix cron of `deploy.schedule.cron`, checked field by field before any
request: Vertex AI (Schedule.cron, v1 REST reference) takes it as is, optionally after
TZ=<IANA zone>; Kubeflow Pipelines takes it with a seconds field in front (kfp_cron), parsed
by robfig/cron v1, which has no time zone and numbers the days of the week 0-6."""

from __future__ import annotations

import re

_TZ = re.compile(r"^(?:CRON_TZ|TZ)=(?P<zone>\S+)\s+(?P<rest>.*)$")
# (name, lowest, highest, names for numbers)
_FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, ("", *"JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split())),
    ("day of week", 0, 7, tuple("SUN MON TUE WED THU FRI SAT".split())),
)


SCHEDULERS = ("vertex", "kfp")


def problem(cron: str, scheduler: str = "vertex") -> str | None:
    """Why the scheduler (vertex or kfp) would refuse this cron, or None."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    text = cron.strip()
    tz = _TZ.match(text)
    if tz:
        if scheduler == "kfp":
            return "a time zone prefix is not taken here (the schedule runs in UTC)"
        try:
            ZoneInfo(tz["zone"])
        except (ZoneInfoNotFoundError, ValueError):
            return f"{tz['zone']!r} is not an IANA time zone"
        text = tz["rest"]
    fields = text.split()
    if len(fields) != 5:
        return f"it has {len(fields)} fields, not 5 (minute hour day-of-month month day-of-week)"
    for value, (what, low, high, names) in zip(fields, _FIELDS, strict=True):
        if scheduler == "kfp" and what == "day of week":
            high = 6
        for item in value.upper().split(","):
            found = _item_problem(item, low, high, names)
            if found:
                return f"{what} {value!r}: {found}"
    return None


def _item_problem(item: str, low: int, high: int, names: tuple[str, ...]) -> str | None:
    span, slash, step = item.partition("/")
    if slash and not (step.isdigit() and int(step) >= 1):
        return f"step {step!r} is not a positive number"
    if span == "*":
        return None
    bounds = span.split("-")
    if len(bounds) > 2:
        return f"{span!r} is not a number or a range"
    numbers = []
    for bound in bounds:
        if bound.isdigit():
            number = int(bound)
        elif bound and bound in names:
            number = names.index(bound)
        else:
            return f"{bound!r} is not a number" + (
                f" nor one of {'/'.join(n for n in names if n)}" if names else ""
            )
        if not low <= number <= high:
            return f"{number} is outside {low}-{high}"
        numbers.append(number)
    if len(numbers) == 2 and numbers[0] > numbers[1]:
        return f"the range {span!r} runs backwards"
    return None
