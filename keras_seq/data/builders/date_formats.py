"""The human date formats of `date_normalization`, rendered without locale.

Each format is a template over these fields of a date (3 May 1998 shown):
`d` 3, `dd` 03, `do` 3rd, `m` 5, `mm` 05, `MMM` May, `MMMM` May (September
for 9), `yy` 98, `yyyy` 1998, `EEE` Sun, `EEEE` Sunday; and a case
(`None`, `"upper"`, `"lower"`).

Every separator has a single field order, so a string names one date:
`/` is month/day/year (US) unless the year comes first with four digits,
`.` is day.month.year (European) unless the four-digit year comes first,
`-` with numbers only is ISO year-month-day, and two-digit years resolve to
the one year of the dataset's 100-year range that ends in them.
"""

import datetime
import re

MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
WEEKDAYS = (
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
)

# (template, case)
FORMATS = (
    ("{yyyy}-{mm}-{dd}", None),
    ("{mm}/{dd}/{yyyy}", None),
    ("{m}/{d}/{yyyy}", None),
    ("{mm}/{dd}/{yy}", None),
    ("{m}/{d}/{yy}", None),
    ("{dd}.{mm}.{yyyy}", None),
    ("{d}.{m}.{yyyy}", None),
    ("{dd}.{mm}.{yy}", None),
    ("{d}.{m}.{yy}", None),
    ("{yyyy}.{m}.{d}", None),
    ("{yyyy}.{mm}.{dd}", None),
    ("{yyyy}/{mm}/{dd}", None),
    ("{yyyy}{mm}{dd}", None),
    ("{d} {MMMM} {yyyy}", None),
    ("{dd} {MMMM} {yyyy}", None),
    ("{d} {MMM} {yyyy}", None),
    ("{d} {MMM} {yy}", None),
    ("{dd}-{MMM}-{yyyy}", None),
    ("{d}-{MMM}-{yy}", None),
    ("{d}/{MMM}/{yyyy}", None),
    ("{MMMM} {d}, {yyyy}", None),
    ("{MMMM} {d} {yyyy}", None),
    ("{MMM} {d}, {yyyy}", None),
    ("{MMM} {dd}, {yyyy}", None),
    ("{MMMM} {do}, {yyyy}", None),
    ("{do} {MMMM} {yyyy}", None),
    ("the {do} of {MMMM}, {yyyy}", None),
    ("{EEEE}, {MMMM} {d}, {yyyy}", None),
    ("{EEEE}, {d} {MMMM} {yyyy}", None),
    ("{EEE}, {d} {MMM} {yyyy}", None),
    ("{EEE} {MMM} {d} {yyyy}", None),
    ("{EEE} {MMM} {dd} {yyyy}", None),
    ("{yyyy} {MMMM} {d}", None),
    ("{d} {MMMM} {yyyy}", "upper"),
    ("{dd} {MMM} {yyyy}", "upper"),
    ("{MMMM} {d}, {yyyy}", "lower"),
    ("{d} {MMM} {yy}", "lower"),
)


def ordinal(n):
    """`1` -> `"1st"`, `12` -> `"12th"`, `22` -> `"22nd"`."""
    if 11 <= n % 100 <= 13:
        return f"{n}th"
    return f"{n}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th') }"


def render(date, template, case=None):
    """Writes `date` (a `datetime.date`) in the format `template`."""
    fields = {
        "d": str(date.day),
        "dd": f"{date.day:02d}",
        "do": ordinal(date.day),
        "m": str(date.month),
        "mm": f"{date.month:02d}",
        "MMM": MONTHS[date.month - 1][:3],
        "MMMM": MONTHS[date.month - 1],
        "yy": f"{date.year % 100:02d}",
        "yyyy": f"{date.year:04d}",
        "EEE": WEEKDAYS[date.weekday()][:3],
        "EEEE": WEEKDAYS[date.weekday()],
    }
    text = template.format(**fields)
    if case == "upper":
        return text.upper()
    if case == "lower":
        return text.lower()
    return text


def characters():
    """Every character a rendered date may contain."""
    chars = set("0123456789")
    for template, _ in FORMATS:
        chars |= set(re.sub(r"\{\w+\}", "", template))
    for name in MONTHS + WEEKDAYS + ("st", "nd", "rd", "th"):
        chars |= set(name) | set(name.upper()) | set(name.lower())
    return "".join(sorted(chars))


def random_date(rng, start_year, end_year):
    """A date uniform between 1 Jan `start_year` and 31 Dec `end_year`."""
    first = datetime.date(start_year, 1, 1).toordinal()
    last = datetime.date(end_year, 12, 31).toordinal()
    return datetime.date.fromordinal(int(rng.integers(first, last + 1)))
