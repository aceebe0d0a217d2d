"""The cron check of deploy.schedule.cron: five unix fields in range, a time zone where the
scheduler takes one."""

import pytest

from mlops.core.cron import problem


@pytest.mark.parametrize(
    "cron",
    ["0 3 * * *", "*/15 0-6,22 1 JAN-MAR mon-fri", "59 23 31 12 7", "TZ=America/Chicago 0 3 * * *"],
)
def test_crons_a_scheduler_takes(cron):
    assert problem(cron) is None


@pytest.mark.parametrize(
    "cron, why",
    [
        ("0 3 * *", "it has 4 fields, not 5"),
        ("0 0 3 * * *", "it has 6 fields, not 5"),
        ("60 3 * * *", "minute '60': 60 is outside 0-59"),
        ("0 3 0 * *", "day of month '0': 0 is outside 1-31"),
        ("0 3 * 13 *", "month '13': 13 is outside 1-12"),
        ("0 3 * * 8", "day of week '8': 8 is outside 0-7"),
        ("0 3 ? * *", "day of month '?': '?' is not a number"),
        ("0 5-3 * * *", "hour '5-3': the range '5-3' runs backwards"),
        ("*/0 3 * * *", "minute '*/0': step '0' is not a positive number"),
        ("0 3 * FOO *", "month 'FOO': 'FOO' is not a number nor one of JAN/FEB"),
        ("TZ=Mars/Base 0 3 * * *", "'Mars/Base' is not an IANA time zone"),
    ],
)
def test_crons_refused_say_which_field_and_why(cron, why):
    assert problem(cron).startswith(why)


def test_kfp_takes_no_time_zone_and_numbers_weekdays_0_to_6():
    assert "time zone" in problem("TZ=UTC 0 3 * * *", "kfp")
    assert problem("0 3 * * 7", "kfp") == "day of week '7': 7 is outside 0-6"
    assert problem("0 3 * * 7", "vertex") is None
    assert problem("0 3 * * SAT", "kfp") is None
