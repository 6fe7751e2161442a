"""English time-expression parsing for temporal recall and event ingestion.

``find_time_windows(text, reference)`` finds time expressions in free text and resolves each
to a half-open window ``[start, end)`` of timezone-aware datetimes in the reference's
timezone. The reference is the moment the text was written or asked (the message time for
ingestion, "now" for a query). Retrieval uses the windows as a filter or, through
``time_boost``, as a soft boost on ``occurred_at``; ingestion uses them to resolve relative
expressions such as "yesterday" against the message time.

Why half-open: windows tile without overlap or gaps ("May" is ``[May 1, June 1)``, so an
event at ``June 1 00:00`` belongs to June only), the end never needs a fake
``23:59:59.999999``, and an ``occurred_at`` is inside a window iff ``start <= t < end``.

Recognised (case-insensitive; the resolution rule is in brackets):

* Day words: today, yesterday, tomorrow, the day before yesterday, the day after tomorrow,
  earlier/later today, tonight and last night [18:00 to 06:00 the next day], this
  morning/afternoon/evening [06-12, 12-18, 18-24], and "yesterday morning", "tomorrow
  night" and the like.
* Calendar units: last/this/next/coming/previous week|month|year|weekend, "this past
  weekend", "earlier this year", "later this month". Weeks start on Monday (ISO); a
  weekend is the Saturday and Sunday of an ISO week, so "last weekend" is the previous ISO
  week's. "over/on/at the weekend" is the most recent weekend that has started.
* "N days|weeks|months|years ago" (N in digits, "a"/"an", or one..twenty) [the calendar
  day, ISO week, month or year that lies N units back]; fuzzy counts "a couple of" [2-3
  units back], "a few" [2-5] and "several" [3-7] give the span from the earliest to the
  latest of those units.
* Rolling spans: "the past week", "the past/last N days", "the last few months"
  [from the start of the day N units back up to the end of the reference day].
* "recently" / "lately" [the last 14 days, today included]; "the other day" [1-7 days back].
* Weekdays: "Monday", "on Friday", "last/this past Friday" [the most recent one strictly
  before the reference date], "next/coming Friday" [the first one strictly after it],
  "this Friday" [the one in the reference's ISO week]; a part of day may follow.
* Months: "May 2023", "in May of 2023", and a bare month name [the most recent such month
  not after the reference month]; "last/next/this May" [strictly before / strictly after /
  in the reference year]. Bare month names that are also common words or given names
  (May, March, April, June, August) are only read as months after a cue word (in, during,
  since, before, after, until, from, of, early, mid, late, last, this, next, ...), so
  "May said hi" and "we march on" yield nothing while "in May" does. Abbreviated month
  names (Jan, Sept, ...) are only recognised with a day or a year.
* Years: "in 2022", "the year 2022", "since 2019" (a bare four-digit number needs a cue
  word, since it may be a quantity). Years 1800-2199.
* Dates: ISO 2023-05-08 (also 2023/05/08), "8 May 2023", "8th of May", "the 8th of May
  2023", "May 8, 2023", "May 8th", "Tuesday, May 7, 2024". A date without a year is the
  most recent such date not after the reference date. Invalid dates (Feb 30) are ignored.
* Seasons, northern-hemisphere meteorological: spring = Mar-May, summer = Jun-Aug,
  autumn/fall = Sep-Nov, winter = Dec-Feb, with "winter 2023" = Dec 2023 to Feb 2024.
  "last summer" [the most recent summer that has ended], "this summer" [the one in the
  reference year, or the winter containing the reference], "next summer" [the first one
  that starts after the reference], "summer 2023", "in (the) summer" [the most recent one
  that has started]. Bare season words need a cue word, like ambiguous month names.
* Parts of a month, year or season: "early/mid/late", "mid-May", "the beginning/start/
  middle/end of" [thirds: days 1-10 / 11-20 / 21-end of a month; Jan-Apr / May-Aug /
  Sep-Dec of a year; first / second / third month of a season].
* Open-ended: "before/prior to X" [X.start - 100 years, X.start), "until/till/by X"
  [X.start - 100 years, X.end), "after X" [X.end, X.end + 100 years), "since X"
  [X.start, X.start + 100 years), for any recognised X. The 100-year far bound
  (``OPEN_ENDED_SPAN``) stands in for "unbounded" so every window stays finite.

Not recognised (known limits): clock times and hours ("at 5pm", "3 hours ago"); numeric
dates other than year-first ISO (05/08/2023 is ambiguous between US and European order);
ranges ("between May and July", "from Monday to Wednesday": each end is found as its own
window); future offsets ("in 3 days", "two weeks from now"); "on the 8th" without a month;
ordinals of weeks ("the first week of May"); decades and centuries ("the 90s"); holidays
("Christmas"); southern-hemisphere or astronomical seasons; non-English text. Windows are
resolved mechanically: tense is not analysed, so "on Friday" is always the previous Friday
even in "I will call on Friday" (use "next Friday"). Matching is case-insensitive, so a
day number next to an ambiguous month word is always read as a date ("5 may" in "5 may
come" is May 5). Overlapping matches keep the longest span. Naive references are rejected.
"""

from __future__ import annotations

import bisect
import calendar
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Literal

__all__ = [
    "OPEN_ENDED_SPAN",
    "RECENT_DAYS",
    "TimeWindow",
    "find_time_windows",
    "is_when_question",
    "strip_time_expressions",
    "time_boost",
]

Kind = Literal["absolute", "relative"]

#: Far bound of open-ended windows ("before 2020", "since May"): 36525 days, ~100 years.
OPEN_ENDED_SPAN = timedelta(days=36525)
#: "recently" / "lately" cover this many days, the reference day included.
RECENT_DAYS = 14


@dataclass(frozen=True)
class TimeWindow:
    """A half-open window ``[start, end)`` found in text; ``expression`` is the matched text."""

    start: datetime
    end: datetime
    expression: str
    kind: Kind

    def contains(self, t: datetime) -> bool:
        return self.start <= t < self.end


# --------------------------------------------------------------------------- vocabulary

_MONTHS: dict[str, int] = {}
for _i, _name in enumerate(calendar.month_name):
    if _i:
        _MONTHS[_name.lower()] = _i
        _MONTHS[_name[:3].lower()] = _i
_MONTHS["sept"] = 9
# Full month names that are also ordinary words or given names: need a cue word when bare.
_AMBIGUOUS_MONTHS = frozenset({"may", "march", "april", "june", "august"})
_FULL_MONTHS = frozenset(m.lower() for m in calendar.month_name if m)

_WEEKDAYS = {name.lower(): i for i, name in enumerate(calendar.day_name)}

_NUMBERS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
}
_FUZZY = {"couple": (2, 3), "few": (2, 5), "several": (3, 7)}

# Parts of the day as (start hour, end hour) on the day; end may pass midnight.
_PARTS = {"morning": (6, 12), "afternoon": (12, 18), "evening": (18, 24), "night": (18, 30)}

_SEASON_START = {"spring": 3, "summer": 6, "autumn": 9, "fall": 9, "winter": 12}

_MONTH_ALT = "|".join(sorted(_MONTHS, key=len, reverse=True))
_FULL_MONTH_ALT = "|".join(sorted(_FULL_MONTHS, key=len, reverse=True))
_WEEKDAY_ALT = "|".join(_WEEKDAYS)
_NUM_ALT = r"\d{1,4}|" + "|".join(sorted(_NUMBERS, key=len, reverse=True))
_YEAR = r"(?:1[89]|2[01])\d\d(?!\d)"
_DAY = r"(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?(?![\d:])"
_PART = r"(?:\s+(?P<part>morning|afternoon|evening|night))?"
_UNIT = r"(?P<unit>day|week|month|year)s?"

_F = re.IGNORECASE


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, _F)


# --------------------------------------------------------------------------- date helpers


@dataclass(frozen=True)
class _Res:
    """A resolved window before it is tied to a text span."""

    start: datetime
    end: datetime
    kind: Kind
    grain: str  # day | week | month | year | season | span | weekday-date


class _Ctx:
    def __init__(self, reference: datetime) -> None:
        if reference.tzinfo is None or reference.utcoffset() is None:
            raise ValueError("reference must be timezone-aware")
        self.ref = reference
        self.tz: tzinfo = reference.tzinfo
        self.today = reference.date()

    def at(self, d: date, hour: int = 0) -> datetime:
        extra, hour = divmod(hour, 24)
        return datetime.combine(d + timedelta(days=extra), time(hour), tzinfo=self.tz)

    def days(self, first: date, last_exclusive: date, kind: Kind, grain: str) -> _Res:
        return _Res(self.at(first), self.at(last_exclusive), kind, grain)


def _add_months(d: date, n: int) -> date:
    """First of the month n months from d's month."""
    idx = d.year * 12 + (d.month - 1) + n
    return date(idx // 12, idx % 12 + 1, 1)


def _month_window(ctx: _Ctx, year: int, month: int, kind: Kind) -> _Res:
    first = date(year, month, 1)
    return ctx.days(first, _add_months(first, 1), kind, "month")


def _year_window(ctx: _Ctx, year: int, kind: Kind) -> _Res:
    return ctx.days(date(year, 1, 1), date(year + 1, 1, 1), kind, "year")


def _week_start(d: date) -> date:
    return d - timedelta(days=d.weekday())


def _season_window(ctx: _Ctx, season: str, year: int, kind: Kind) -> _Res:
    first = date(year, _SEASON_START[season], 1)
    return ctx.days(first, _add_months(first, 3), kind, "season")


def _back(d: date, n: int, unit: str) -> date:
    """The date n units before d (months and years clamp to the first of the month)."""
    if unit == "day":
        return d - timedelta(days=n)
    if unit == "week":
        return d - timedelta(weeks=n)
    if unit == "month":
        return _add_months(d, -n)
    return date(d.year - n, 1, 1)


def _unit_window(ctx: _Ctx, d: date, unit: str, kind: Kind) -> _Res:
    """The calendar unit (day, ISO week, month, year) containing d."""
    if unit == "day":
        return ctx.days(d, d + timedelta(days=1), kind, "day")
    if unit == "week":
        ws = _week_start(d)
        return ctx.days(ws, ws + timedelta(days=7), kind, "week")
    if unit == "month":
        return _month_window(ctx, d.year, d.month, kind)
    return _year_window(ctx, d.year, kind)


def _count(word: str) -> tuple[int, int]:
    w = word.lower()
    for key, rng in _FUZZY.items():
        if key in w:
            return rng
    n = _NUMBERS.get(w)
    if n is None:
        n = int(w)
    return n, n


def _month_no_year(ctx: _Ctx, month: int, rel: str | None) -> int:
    """Year of a month named without a year, per the rule for ``rel``."""
    y, m = ctx.today.year, ctx.today.month
    if rel in ("last", "past", "previous"):
        return y if month < m else y - 1
    if rel in ("next", "coming"):
        return y if month > m else y + 1
    if rel == "this":
        return y
    return y if month <= m else y - 1


def _day_no_year(ctx: _Ctx, month: int, day: int) -> date | None:
    """Most recent valid month/day not after the reference date (looks back 8 years)."""
    year = (
        ctx.today.year if (month, day) <= (ctx.today.month, ctx.today.day) else ctx.today.year - 1
    )
    for y in range(year, year - 8, -1):
        try:
            return date(y, month, day)
        except ValueError:
            continue
    return None


def _day_num(s: str) -> int:
    return int(re.sub(r"\D", "", s))


# --------------------------------------------------------------------------- cue checks

_CUE = _rx(
    r"(?:\b(?:in|during|since|before|after|until|till|through|throughout|early|mid|late|"
    r"around|prior\s+to|(?:beginning|start|middle|end)\s+of)\s+(?:the\s+)?|\bmid-)$"
)


def _has_cue(text: str, pos: int) -> bool:
    return _CUE.search(text[max(0, pos - 24) : pos]) is not None


# --------------------------------------------------------------------------- handlers

Handler = Callable[[re.Match[str], _Ctx, str], _Res | None]


def _h_iso(m: re.Match[str], ctx: _Ctx, _text: str) -> _Res | None:
    try:
        d = date(int(m["y"]), int(m["m"]), int(m["d"]))
    except ValueError:
        return None
    return ctx.days(d, d + timedelta(days=1), "absolute", "day")


def _h_date(m: re.Match[str], ctx: _Ctx, _text: str) -> _Res | None:
    month = _MONTHS[m["mon"].lower().rstrip(".")]
    day = _day_num(m["day"])
    if m["year"]:
        try:
            d: date | None = date(int(m["year"]), month, day)
        except ValueError:
            return None
        kind: Kind = "absolute"
    else:
        d = _day_no_year(ctx, month, day)
        kind = "relative"
    if d is None:
        return None
    return ctx.days(d, d + timedelta(days=1), kind, "day")


def _h_month_year(m: re.Match[str], ctx: _Ctx, _text: str) -> _Res | None:
    return _month_window(ctx, int(m["year"]), _MONTHS[m["mon"].lower().rstrip(".")], "absolute")


def _h_bare_month(m: re.Match[str], ctx: _Ctx, text: str) -> _Res | None:
    name = m["mon"].lower()
    rel = m["rel"].lower().split()[-1] if m["rel"] else None
    if rel is None and name in _AMBIGUOUS_MONTHS and not _has_cue(text, m.start()):
        return None
    month = _MONTHS[name]
    return _month_window(ctx, _month_no_year(ctx, month, rel), month, "relative")


def _h_year(m: re.Match[str], ctx: _Ctx, text: str) -> _Res | None:
    if not m["the"] and not _has_cue(text, m.start()):
        return None
    return _year_window(ctx, int(m["year"]), "absolute")


def _h_day_word(m: re.Match[str], ctx: _Ctx, _text: str) -> _Res | None:
    w = " ".join(m["word"].lower().split())
    offsets = {
        "today": 0,
        "earlier today": 0,
        "later today": 0,
        "yesterday": -1,
        "tomorrow": 1,
        "the day before yesterday": -2,
        "the day after tomorrow": 2,
        "tonight": 0,
        "last night": -1,
        "this morning": 0,
        "this afternoon": 0,
        "this evening": 0,
    }
    d = ctx.today + timedelta(days=offsets[w])
    part = m["part"].lower() if m["part"] else None
    if w in ("tonight", "last night"):
        part = "night"
    elif w.startswith("this "):
        part = w.split()[1]
    if part is None:
        return ctx.days(d, d + timedelta(days=1), "relative", "day")
    h0, h1 = _PARTS[part]
    return _Res(ctx.at(d, h0), ctx.at(d, h1), "relative", "part")


def _h_rel_unit(m: re.Match[str], ctx: _Ctx, _text: str) -> _Res | None:
    rel = " ".join(m["rel"].lower().split())
    unit = m["u"].lower()
    today = ctx.today
    if rel in ("earlier this", "later this"):
        w = _unit_window(ctx, today, unit, "relative")
        if rel == "earlier this":
            return _Res(w.start, ctx.at(today + timedelta(days=1)), "relative", "span")
        return _Res(ctx.at(today), w.end, "relative", "span")
    step = {"last": -1, "previous": -1, "this past": -1, "past": -1, "this": 0}.get(rel, 1)
    if unit == "weekend":
        sat = _week_start(today) + timedelta(days=5 + 7 * step)
        return ctx.days(sat, sat + timedelta(days=2), "relative", "week")
    if unit == "week":
        ws = _week_start(today) + timedelta(weeks=step)
        return ctx.days(ws, ws + timedelta(days=7), "relative", "week")
    if unit == "month":
        first = _add_months(today, step)
        return _month_window(ctx, first.year, first.month, "relative")
    return _year_window(ctx, today.year + step, "relative")


def _h_the_weekend(_m: re.Match[str], ctx: _Ctx, _text: str) -> _Res | None:
    today = ctx.today
    sat = _week_start(today) + timedelta(days=5)
    if sat > today:
        sat -= timedelta(days=7)
    return ctx.days(sat, sat + timedelta(days=2), "relative", "week")


def _h_ago(m: re.Match[str], ctx: _Ctx, _text: str) -> _Res | None:
    lo, hi = _count(m["n"])
    unit = m["unit"].lower()
    try:
        oldest = _unit_window(ctx, _back(ctx.today, hi, unit), unit, "relative")
        newest = _unit_window(ctx, _back(ctx.today, lo, unit), unit, "relative")
    except (ValueError, OverflowError):
        return None
    grain = unit if lo == hi else "span"
    return _Res(oldest.start, newest.end, "relative", grain)


def _h_rolling(m: re.Match[str], ctx: _Ctx, _text: str) -> _Res | None:
    if m["lead"].lower() == "last" and not m["n"]:
        return None  # "last week" is the calendar week, handled elsewhere
    _, hi = _count(m["n"]) if m["n"] else (1, 1)
    unit = m["unit"].lower()
    today = ctx.today
    try:
        if unit in ("day", "week"):
            first = _back(today, hi, unit)
        elif unit == "month":
            first = _add_months(today, -hi)
            first = first.replace(
                day=min(today.day, calendar.monthrange(first.year, first.month)[1])
            )
        else:
            y = today.year - hi
            first = date(y, today.month, min(today.day, calendar.monthrange(y, today.month)[1]))
    except (ValueError, OverflowError):
        return None
    return ctx.days(first, today + timedelta(days=1), "relative", "span")


def _h_recent(m: re.Match[str], ctx: _Ctx, _text: str) -> _Res | None:
    today = ctx.today
    if m[0].lower().startswith("the"):
        return ctx.days(today - timedelta(days=7), today, "relative", "span")
    first = today - timedelta(days=RECENT_DAYS - 1)
    return ctx.days(first, today + timedelta(days=1), "relative", "span")


def _h_weekday(m: re.Match[str], ctx: _Ctx, _text: str) -> _Res | None:
    wd = _WEEKDAYS[m["wd"].lower()]
    rel = " ".join(m["rel"].lower().split()) if m["rel"] else None
    today = ctx.today
    if rel in ("next", "coming"):
        d = today + timedelta(days=(wd - today.weekday()) % 7 or 7)
    elif rel == "this":
        d = _week_start(today) + timedelta(days=wd)
    else:
        d = today - timedelta(days=(today.weekday() - wd) % 7 or 7)
    if m["part"]:
        h0, h1 = _PARTS[m["part"].lower()]
        return _Res(ctx.at(d, h0), ctx.at(d, h1), "relative", "part")
    return ctx.days(d, d + timedelta(days=1), "relative", "day")


def _h_season(m: re.Match[str], ctx: _Ctx, text: str) -> _Res | None:
    season = m["season"].lower()
    rel = " ".join(m["rel"].lower().split()) if m["rel"] else None
    if m["year"]:
        return _season_window(ctx, season, int(m["year"]), "absolute")
    if rel is None and not _has_cue(text, m.start()):
        return None
    ref = ctx.ref
    y = ctx.today.year
    # Instances around the reference, oldest first.
    cands = [_season_window(ctx, season, yy, "relative") for yy in range(y - 2, y + 2)]
    if rel in ("last", "past", "previous", "this past"):
        return [c for c in cands if c.end <= ref][-1]
    if rel in ("next", "coming"):
        return next(c for c in cands if c.start > ref)
    if rel == "this":
        for c in cands:
            if c.start <= ref < c.end:
                return c
        return _season_window(ctx, season, y, "relative")
    return [c for c in cands if c.start <= ref][-1]


# --------------------------------------------------------------------------- patterns

_REL = r"(?:(?P<rel>this\s+past|last|this|next|past|coming|previous)\s+)"

_PATTERNS: list[tuple[re.Pattern[str], Handler]] = [
    (_rx(r"\b(?P<y>" + _YEAR + r")[-/](?P<m>[01]?\d)[-/](?P<d>[0-3]?\d)(?![\d:/-])"), _h_iso),
    (
        _rx(
            r"\b(?:(?P<wd>" + _WEEKDAY_ALT + r"),?\s+)?(?:the\s+)?(?P<day>" + _DAY + r")"
            r"(?:\s+of)?\s+(?P<mon>" + _MONTH_ALT + r")\b\.?(?:,?\s+(?P<year>" + _YEAR + r"))?"
        ),
        _h_date,
    ),
    (
        _rx(
            r"\b(?:(?P<wd>" + _WEEKDAY_ALT + r"),?\s+)?(?P<mon>" + _MONTH_ALT + r")\b\.?\s+"
            r"(?:the\s+)?(?P<day>" + _DAY + r")(?:,?\s+(?P<year>" + _YEAR + r"))?"
        ),
        _h_date,
    ),
    (
        _rx(r"\b(?P<mon>" + _MONTH_ALT + r")\b\.?,?\s+(?:of\s+)?(?P<year>" + _YEAR + r")"),
        _h_month_year,
    ),
    (
        _rx(
            r"\b(?P<rel>(?:this\s+past|last|this|next|coming|previous)\s+)?"
            r"(?P<mon>" + _FULL_MONTH_ALT + r")\b(?!['’]s\b|,?\s*\d)"
        ),
        _h_bare_month,
    ),
    (_rx(r"(?<![\w$£€#-])(?P<the>the\s+year\s+)?(?P<year>" + _YEAR + r")\b(?![.,]\d|%)"), _h_year),
    (
        _rx(
            r"\b(?P<word>the\s+day\s+before\s+yesterday|the\s+day\s+after\s+tomorrow|"
            r"earlier\s+today|later\s+today|yesterday|today|tomorrow|tonight|last\s+night|"
            r"this\s+(?:morning|afternoon|evening))\b" + _PART
        ),
        _h_day_word,
    ),
    (
        _rx(
            r"\b(?P<rel>earlier\s+this|later\s+this|this\s+past|last|this|next|coming|previous)"
            r"\s+(?P<u>weekend|week|month|year)\b"
        ),
        _h_rel_unit,
    ),
    (_rx(r"\b(?:on|over|at|during)\s+the\s+weekend\b"), _h_the_weekend),
    (
        _rx(
            r"\b(?P<n>"
            + _NUM_ALT
            + r"|(?:a\s+)?(?:couple(?:\s+of)?|few)|several)\s+"
            + _UNIT
            + r"\s+ago\b"
        ),
        _h_ago,
    ),
    (
        _rx(
            r"\b(?:the\s+)?(?P<lead>past|last)\s+(?:(?P<n>\d{1,4}|"
            + "|".join(k for k in _NUMBERS if k not in ("a", "an"))
            + r"|(?:a\s+)?couple(?:\s+of)?|few|several)\s+)?"
            + _UNIT
            + r"\b"
        ),
        _h_rolling,
    ),
    (_rx(r"\b(?:recently|lately|the\s+other\s+day)\b"), _h_recent),
    (_rx(r"\b" + _REL + r"?(?P<wd>" + _WEEKDAY_ALT + r")\b" + _PART), _h_weekday),
    (
        _rx(
            r"\b" + _REL + r"?(?P<season>spring|summer|autumn|fall|winter)\b"
            r"(?:,?\s+(?:of\s+)?(?P<year>" + _YEAR + r"))?"
        ),
        _h_season,
    ),
]

_QUALIFIER = _rx(
    r"(?:\b(?P<q>early|mid|late)(?:\s+|-)(?:in\s+)?|"
    r"\b(?:the\s+)?(?P<q2>beginning|start|middle|end)\s+of\s+(?:the\s+)?)$"
)
_OPERATOR = _rx(r"\b(?P<op>before|after|since|until|till|by|prior\s+to)\s+(?:the\s+)?$")
_PREPOSITION = _rx(r"\b(?:(?:in|on|during|over|at|around|for|from)\s+)?(?:the\s+)?$")
_Q2 = {"beginning": "early", "start": "early", "middle": "mid", "end": "late"}


def _third(res: _Res, q: str, ctx: _Ctx) -> _Res:
    idx = {"early": 0, "mid": 1, "late": 2}[q]
    first = res.start.date()
    if res.grain == "month":
        bounds = [first, first.replace(day=11), first.replace(day=21), res.end.date()]
    elif res.grain == "year":
        bounds = [first, first.replace(month=5), first.replace(month=9), res.end.date()]
    else:  # season: one month each
        bounds = [first, _add_months(first, 1), _add_months(first, 2), res.end.date()]
    return _Res(ctx.at(bounds[idx]), ctx.at(bounds[idx + 1]), res.kind, "span")


def _operate(res: _Res, op: str) -> _Res:
    op = " ".join(op.lower().split())
    if op in ("before", "prior to"):
        return _Res(res.start - OPEN_ENDED_SPAN, res.start, res.kind, "open")
    if op in ("until", "till", "by"):
        return _Res(res.start - OPEN_ENDED_SPAN, res.end, res.kind, "open")
    if op == "after":
        return _Res(res.end, res.end + OPEN_ENDED_SPAN, res.kind, "open")
    return _Res(res.start, res.start + OPEN_ENDED_SPAN, res.kind, "open")  # since


# --------------------------------------------------------------------------- scanning


def _scan(text: str, ctx: _Ctx) -> list[tuple[int, int, _Res]]:
    cands: list[tuple[int, int, _Res]] = []
    for rx, handler in _PATTERNS:
        for m in rx.finditer(text):
            try:
                res = handler(m, ctx, text)
            except (ValueError, OverflowError):
                res = None
            if res is not None:
                cands.append((m.start(), m.end(), res))
    # Longest match wins; ties go to the earlier one.
    cands.sort(key=lambda c: (c[0] - c[1], c[0]))
    taken: list[tuple[int, int, _Res]] = []  # kept sorted by start; spans never overlap
    starts: list[int] = []
    for c in cands:
        i = bisect.bisect_left(starts, c[0])
        if i > 0 and taken[i - 1][1] > c[0]:
            continue
        if i < len(taken) and taken[i][0] < c[1]:
            continue
        starts.insert(i, c[0])
        taken.insert(i, c)

    out: list[tuple[int, int, _Res]] = []
    prev_end = 0
    for s, e, res in taken:
        window = text[max(prev_end, s - 40) : s]
        base = s - len(window)
        qm = _QUALIFIER.search(window)
        if qm and res.grain in ("month", "year", "season"):
            res = _third(res, (qm["q"] or _Q2[qm["q2"].lower()]).lower(), ctx)
            window = window[: qm.start()]
            s = base + qm.start()
        om = _OPERATOR.search(window)
        if om:
            res = _operate(res, om["op"])
            window = window[: om.start()]
            s = base + om.start()
        pm = _PREPOSITION.search(window)
        if pm and pm.end() > pm.start():
            s = base + pm.start()
        out.append((s, e, res))
        prev_end = e
    return out


def find_time_windows(text: str, reference: datetime) -> list[TimeWindow]:
    """Time expressions in ``text`` resolved against ``reference`` (timezone-aware), in
    order of appearance. Overlapping matches keep the longest. Returns [] when none."""
    ctx = _Ctx(reference)
    if not text:
        return []
    return [
        TimeWindow(res.start, res.end, " ".join(text[s:e].split()), res.kind)
        for s, e, res in _scan(text, ctx)
    ]


_STRIP_REF = datetime(2000, 6, 15, 12, tzinfo=UTC)


def strip_time_expressions(text: str) -> str:
    """``text`` without the spans ``find_time_windows`` matches (and the prepositions and
    operators attached to them), whitespace collapsed, so the rest can be searched
    lexically. Spans do not depend on the reference time."""
    if not text:
        return ""
    parts: list[str] = []
    pos = 0
    for s, e, _ in _scan(text, _Ctx(_STRIP_REF)):
        parts.append(text[pos:s])
        parts.append(" ")
        pos = e
    parts.append(text[pos:])
    out = " ".join("".join(parts).split())
    return re.sub(r"\s+([,.;:!?])", r"\1", out)


_WHEN = _rx(
    r"\bwhen\s+(?:did|was|were|is|are|will|do|does|has|have|had|would|could|should|can|shall)\b"
    r"|\bsince\s+when\b"
    r"|\bwhat\s+(?:time|date|day|year|month|week)\b"
    r"|\bwhich\s+(?:year|month|day|date|week|weekend|season)\b"
    r"|\bhow\s+long\s+ago\b"
    r"|\bwhen['’]s\b"
)


def is_when_question(text: str) -> bool:
    """Whether ``text`` asks for a time: "when did/was/is/will ...", "what time/date/day",
    "which year/month/day", "how long ago", "since when", "when's". A subordinate "when"
    ("what did I eat when I was in Paris?") does not count."""
    return _WHEN.search(text) is not None


def time_boost(occurred_at: datetime, window: TimeWindow, *, half_life_days: float) -> float:
    """1.0 inside ``window``; outside, ``0.5 ** (distance_days / half_life_days)`` where the
    distance is to the nearer edge, so a slightly-off event date still helps. A naive
    ``occurred_at`` is read in the window's timezone."""
    if half_life_days <= 0 or math.isnan(half_life_days):
        raise ValueError("half_life_days must be positive")
    if occurred_at.tzinfo is None:
        occurred_at = occurred_at.replace(tzinfo=window.start.tzinfo)
    if window.start <= occurred_at < window.end:
        return 1.0
    if occurred_at < window.start:
        dist = (window.start - occurred_at).total_seconds()
    else:
        dist = (occurred_at - window.end).total_seconds()
    return float(0.5 ** (dist / 86_400.0 / half_life_days))
