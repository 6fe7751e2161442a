"""Fact updates in conversations: do current facts outrank the ones they replaced?

The bench makes its own scenarios from templates with a seeded generator: `--people` people,
each a user of one cube with their own `user_id` and sessions, who state something (they live
in a city, work somewhere, have a named pet, a favourite colour or food, like or dislike a food
or drink) on a day D1 and change it on a later day D2 (10 to 120 days later): they move, change
jobs, rename the pet, change their favourite, turn against a food (or come round to it). Every
statement sits among small talk (weather, films, food, work ...; none of it about the same slot)
and generic assistant replies. Each kind has several phrasings for the old and for the new
statement, in everyday English, not tuned to the rule-based extractor: some of them it is not
meant to catch, and the report says which ones it missed. Each session is one
POST /v1/cubes/{id}/messages call (at most 50 messages: synchronous).

Then, per change, one question about the current value ("Where does Amara live?"), searched with
the user's filter. "States a value": the memory's text holds the value as whole words, case
aside (for likes, whether it mentions the food and what its stance is: a fact's own value, else
negation words in the text). Reported per kind and overall:

- current_first: among the results that state the old or the new value, the first states the
  new one and not the old one (the primary metric; acceptance: >= 0.90 offline); also
  "cur 1st|extr", the same over the changes whose new fact was extracted (ranking alone);
- fact_top1: the top result is an extracted fact (`fact` set) stating the new value;
- superseded_marked: of the changes whose old and new facts were both extracted, those where
  every old fact of the slot carries `valid_to` and every current one does not (the number of
  changes whose old fact was never extracted is reported beside it);
- as_of_old_first: the same question with `as_of` between D1 and D2 (halfway from the day
  after D1 to the earliest the change may have happened: D2, or the start of "last month",
  "last week", "the spring" when the new statement dates it; a change dated so early that
  no moment is surely before it is left out, "as_of n" counts the others): among the results
  that state either value, the first states the old one;
- extracted: a fact with the new value exists;
- baselines on the same data, same run: baseline_current_first, current_first of
  `mode: lexical` (BM25 alone; the server still prefers valid facts there), and
  novalidity_current_first, current_first of the default search with the server's preference
  for still-valid facts off (`superseded_weight` 1, swapped into the in-process app's settings
  for those calls): what the validity handling adds. Both also over the `pairs` alone (old and
  new facts both extracted: where it has something to do).

Also the decisions /messages returned (add, reinforce, inferred_update, supersede), which
phrasings the extractor caught, ingest time and search latency. Two runs: offline (no LLM: the
deterministic extractor; the one CI reports) and, with `--llm`, the model configured through
MEMSVC_LLM_MODEL (and MEMSVC_LLM_API_BASE, MEMSVC_LLM_API_KEY ...). Each run has its own
throwaway embedded PostgreSQL and the same scenarios.

`--phrasings holdout` states the old and new values with the held-out phrasings of
bench/updates_holdout.py instead of the templates here ("dev"), which were written alongside
the rule-based extractor: the held-out ones were written blind to it, as a check on
overfitting. Everything else is the same (people, values, days, small talk: the held-out
phrasings are drawn with their own generator); the JSON records the set under `phrasings`
(default path bench/results/updates_holdout.json). For likes, a memory that holds one of the
change's own statements word for word has that statement's stance (the negation words alone
misread some held-out phrasings, e.g. "I've stopped liking tea").

`--phrasings holdout2` does the same with a second, independent held-out set
(bench/updates_holdout2.py), written blind to the extractor and to both earlier sets after the
extractor had been improved by someone who could see them: the honest generalisation check.
Its phrasings are drawn with a generator of their own too; the JSON goes by default to
bench/results/updates_holdout2.json. Its new statements date changes in more ways ("a couple
of weeks ago", "as of this month", "moving day was Saturday"), which the as_of moment allows
for.

    python -m bench.updates [--people 40 --seed 7 --llm --json bench/results/updates.json]
    python -m bench.updates --phrasings holdout   # -> bench/results/updates_holdout.json
    python -m bench.updates --phrasings holdout2  # -> bench/results/updates_holdout2.json
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import platform
import random
import re
import statistics
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench._service import local_tenant
from bench.updates_holdout import HOLDOUT
from bench.updates_holdout2 import HOLDOUT2

START = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)
MAX_MESSAGES = 50  # per /messages call: up to this many the call is synchronous
KINDS = ("moved", "job", "pet", "favourite", "likes")

# --- vocabularies (disjoint, checked by _check_vocab) ------------------------------------------
NAMES = [
    "Amara", "Bastian", "Carmen", "Devika", "Elena", "Felix", "Greta", "Hamid", "Ingrid",
    "Jamal", "Keiko", "Lars", "Mei", "Nikolai", "Olga", "Pablo", "Quinn", "Rania", "Sven",
    "Tara", "Umar", "Vera", "Wei", "Ximena", "Yusuf", "Zoe", "Anika", "Bjorn", "Chiara",
    "Diego", "Esther", "Farah", "Gustavo", "Hana", "Ivan", "Jana", "Kofi", "Leila", "Mateo",
    "Nadia",
]  # fmt: skip
CITIES = [
    "Lisbon", "Porto", "Berlin", "Munich", "Hamburg", "Vienna", "Zurich", "Prague", "Warsaw",
    "Krakow", "Budapest", "Madrid", "Barcelona", "Valencia", "Seville", "Rome", "Milan",
    "Naples", "Athens", "Dublin", "Edinburgh", "Glasgow", "Manchester", "Bristol", "Amsterdam",
    "Rotterdam", "Brussels", "Copenhagen", "Stockholm", "Oslo", "Helsinki", "Toronto",
    "Montreal", "Vancouver", "Chicago", "Seattle", "Boston", "Denver", "Melbourne", "Sydney",
    "Auckland", "Tokyo", "Osaka", "Seoul", "Singapore", "Cape Town", "Buenos Aires",
    "Mexico City", "New York", "San Francisco",
]  # fmt: skip
EMPLOYERS = [
    "Northwind Traders", "Contoso", "Fabrikam", "Initech", "Globex", "Hooli",
    "Vandelay Industries", "Cyberdyne Systems", "Wayne Enterprises", "Stark Industries",
    "Dunder Mifflin", "Pied Piper", "Aperture Science", "Massive Dynamic", "Oscorp",
    "Umbrella Corporation", "Tyrell Corporation", "Soylent", "Wonka Industries",
    "Sterling Cooper", "Nakatomi Trading", "Monarch Solutions", "Bluth Company", "Gekko and Co",
    "Brightwave Energy", "Harbor Logistics", "Summit Bank", "Evergreen Health",
    "Lumen Analytics", "Redwood Software", "Silverline Media", "Atlas Freight",
]  # fmt: skip
ANIMALS = ["dog", "cat", "rabbit", "parrot", "hamster", "tortoise"]
PET_NAMES = [
    "Rex", "Max", "Bella", "Luna", "Milo", "Daisy", "Rocky", "Coco", "Teddy", "Simba", "Nala",
    "Ziggy", "Biscuit", "Mochi", "Loki", "Juno", "Winston", "Toby", "Buster", "Pickles",
    "Peanut", "Gizmo", "Oreo", "Pixel", "Sprout", "Waffles", "Bandit", "Smokey", "Ollie",
    "Pumpkin", "Kiwi", "Marble",
]  # fmt: skip
COLOURS = [
    "blue", "green", "red", "yellow", "purple", "orange", "pink", "teal", "turquoise", "navy",
    "black", "white", "grey", "silver", "gold", "burgundy", "lavender", "coral", "maroon",
    "beige",
]  # fmt: skip
FOODS = [
    "pizza", "sushi", "ramen", "tacos", "curry", "lasagne", "paella", "dumplings", "pho",
    "falafel", "risotto", "burritos", "pancakes", "oysters", "olives", "mushrooms", "chocolate",
    "cheesecake", "avocado", "tofu", "kimchi", "hummus", "goulash", "burgers", "spaghetti",
    "croissants", "steak", "porridge", "dim sum", "pad thai",
]  # fmt: skip
DRINKS = ["coffee", "tea", "beer", "espresso", "cider", "whisky", "kombucha", "lemonade"]
LIKE_ITEMS = FOODS + DRINKS

# --- phrasings ({old}/{new}: the values; {animal}, {thing}, {thing_us}, {item}) ----------------
# Written as people talk, several per kind; the rule-based extractor is not expected to catch
# all of them (the report lists which it caught).
TEMPLATES: dict[str, dict[str, list[str]]] = {
    "moved": {
        "old": [
            "I live in {old}.",
            "I'm based in {old}, so the time zone might be a bit off for you.",
            "Greetings from {old}, where I've lived for about five years.",
            "I've been living in {old} since university.",
            "Home is {old} for me, right by the river.",
            "I live in {old} with my partner and two kids.",
        ],
        "new": [
            "I live in {new} now.",
            "We finally moved! I'm living in {new} these days.",
            "I just moved to {new}, still unpacking boxes.",
            "Big news: I relocated to {new} last month.",
            "I've settled in {new} now and I really like the neighbourhood.",
            "Writing to you from my new flat in {new}!",
        ],
    },
    "job": {
        "old": [
            "I work at {old}.",
            "I'm working at {old} in the finance team.",
            "I've been at {old} for three years now.",
            "I work for {old}, mostly on the customer side.",
            "My employer is {old}, it's a decent place.",
            "I'm employed by {old} as an analyst.",
        ],
        "new": [
            "I started a new job at {new}!",
            "I work for {new} now.",
            "I just joined {new} last week, new job!",
            "Big change: I got a job at {new}.",
            "I'm at {new} now, I switched jobs in the spring.",
            "I handed in my notice and now I'm working at {new}.",
        ],
    },
    "pet": {
        "old": [
            "My {animal} is called {old}.",
            "I have a {animal} called {old}.",
            "My {animal}'s name is {old}.",
            "Our {animal} {old} keeps stealing socks.",
            "{old}, my {animal}, is asleep on my feet right now.",
            "I adopted a {animal} a while ago and named it {old}.",
        ],
        "new": [
            "We renamed our {animal} to {new}.",
            "My {animal}'s name is {new} now.",
            "My {animal} is called {new} these days, the old name never stuck.",
            "We started calling the {animal} {new} instead.",
            "My {animal} goes by {new} now.",
            "I changed my {animal}'s name to {new}.",
        ],
    },
    "favourite": {
        "old": [
            "My favourite {thing} is {old}.",
            "{old} is my favourite {thing}.",
            "My favorite {thing_us} is {old}.",
            "I'd say {old} is my favourite {thing}, always has been.",
            "Nothing beats {old}, it's my favourite {thing} by far.",
        ],
        "new": [
            "My favourite {thing} is {new} now.",
            "These days my favourite {thing} is {new}.",
            "My favorite {thing_us} has changed, it's {new} now.",
            "Lately {new} has become my favourite {thing}.",
            "Honestly {new} is my new favourite {thing}.",
        ],
    },
    # likes: the stance flips; "pos"/"neg" templates by direction (old: D1, new: D2).
    "likes": {
        "old_pos": [
            "I love {item}.",
            "I really like {item}.",
            "I'm a big fan of {item}.",
            "I enjoy {item} a lot.",
            "{item} is my thing, I have it almost every day.",
        ],
        "new_neg": [
            "I don't like {item} anymore.",
            "I can't stand {item} these days.",
            "Honestly I've gone off {item}.",
            "I no longer like {item}.",
            "I'm not a fan of {item} anymore.",
            "{item} just doesn't agree with me any more.",
        ],
        "old_neg": [
            "I don't like {item}.",
            "I can't stand {item}.",
            "I'm not a fan of {item}.",
            "{item} has never been my thing.",
            "I hate {item}, sorry.",
        ],
        "new_pos": [
            "I love {item} now.",
            "I actually like {item} these days.",
            "I've come round to {item}, I really enjoy it now.",
            "I'm really into {item} lately.",
            "Turns out I'm a fan of {item} after all.",
        ],
    },
}
FAVOURITE_THINGS = {"colour": ("color", COLOURS), "food": ("food", FOODS)}
QUESTIONS = {
    "moved": [
        "Where does {name} live?",
        "Which city does {name} live in now?",
        "Where is {name} based these days?",
    ],
    "job": [
        "Where does {name} work now?",
        "Who is {name}'s employer?",
        "Which company does {name} work for?",
    ],
    "pet": ["What is {name}'s {animal} called?", "What's the name of {name}'s {animal}?"],
    "favourite": ["What is {name}'s favourite {thing}?"],
    "likes": ["Does {name} like {item}?", "How does {name} feel about {item}?"],
}
CHATTER = [
    "It's been raining all week here.",
    "Any film recommendations for the weekend?",
    "Work has been hectic this week.",
    "I'm thinking of learning to bake bread.",
    "I had a long walk by the sea this morning.",
    "The traffic was terrible today.",
    "I finished a really good book yesterday.",
    "What's a good way to keep houseplants alive?",
    "I'm so tired, I barely slept last night.",
    "The new season of that detective show is out.",
    "I tried a new recipe for dinner and it turned out fine.",
    "We had a barbecue with the neighbours on Saturday.",
    "I'm training for a 10k run.",
    "My phone battery keeps dying.",
    "Do you know any good board games for four people?",
    "Meetings all day today, ugh.",
    "It's finally sunny after a week of clouds.",
    "I went to the cinema on Friday and the film was far too long.",
    "Can you suggest a podcast about history?",
    "I need to buy a birthday present for a friend.",
    "I cleaned the whole flat this weekend.",
    "The heating in the building is broken again.",
    "I'm planning a hike for the weekend.",
    "Had a great chat with an old friend yesterday.",
    "Thinking about taking up yoga.",
    "The football match last night was a nail-biter.",
    "I burnt the toast this morning.",
    "Do you think it'll snow this winter?",
    "My laptop is getting really slow.",
    "I'm trying to drink more water.",
    "Just got back from the gym.",
    "The museum has a new exhibition on old maps.",
    "It's way too hot today.",
    "The garden next door looks amazing this year.",
    "Finally finished that big report at work.",
    "How long should I rest between workouts?",
    "I watched a documentary about octopuses.",
    "I can't decide what to cook tonight.",
    "The quarterly review went better than expected.",
    "Is it worth learning to play the guitar at my age?",
]
REPLIES = [
    "Thanks for telling me.",
    "Good to know!",
    "Oh, interesting.",
    "That makes sense.",
    "Got it.",
    "Fair enough!",
    "Tell me more whenever you like.",
    "I'll keep that in mind.",
    "Happy to help with that.",
    "Noted!",
    "Sounds like quite a week.",
    "Let me know how it goes.",
]
NEGATION = re.compile(
    r"\b(?:not|no longer|don't|doesn't|do not|does not|can't stand|cannot stand|hate|hates|"
    r"dislike|dislikes|gone off|went off|goes off|never been|anymore|any more)\b",
    re.IGNORECASE,
)


def _check_vocab() -> None:
    """Values of different lists never look alike (a name is not a city, a pet or a food)."""
    lists = [NAMES, CITIES, EMPLOYERS, PET_NAMES, COLOURS, LIKE_ITEMS, ANIMALS]
    seen: dict[str, int] = {}
    for i, words in enumerate(lists):
        for w in words:
            for token in w.lower().split():
                if token in ("and", "co"):
                    continue
                assert seen.setdefault(token, i) == i, f"{w!r} is in two vocabularies"


# The held-out phrasing sets (bench/updates_holdout.py, bench/updates_holdout2.py), each written
# blind to the extractor and to the sets before it; they share their placeholders and role names.
HOLDOUT_SETS: dict[str, dict[str, dict[str, list[str]]]] = {
    "holdout": HOLDOUT,
    "holdout2": HOLDOUT2,
}
PHRASING_SETS = ("dev", *HOLDOUT_SETS)
HOLDOUT_ROLES = {
    "old_pos": "old_like",
    "old_neg": "old_dislike",
    "new_pos": "new_like",
    "new_neg": "new_dislike",
}
HOLDOUT_VALUE = {"moved": "city", "job": "employer", "pet": "name", "favourite": "value"}


def _holdout_values(kind: str, side: str, template: str, values: dict[str, str]) -> dict[str, str]:
    """The held-out placeholders from the generator's values (`old`, `new`, `animal`, `thing`,
    `thing_us`, `item`): {city}/{employer}/{name}/{value} is the side's value, {old_...} the
    value before; {thing} is spelt the US way in a template that says "favorite"."""
    out: dict[str, str] = {}
    if kind == "likes":
        out["food"] = values["item"]
        return out
    key = HOLDOUT_VALUE[kind]
    out[key] = values["old" if side.startswith("old") else "new"]
    out[f"old_{key}"] = values["old"]
    if kind == "pet":
        out["pet"] = values["animal"]
    if kind == "favourite":
        us = "favorite" in template.lower()
        out["thing"] = values["thing_us" if us else "thing"]
    return out


def _check_holdout(holdout: dict[str, dict[str, list[str]]]) -> None:
    """Every role of a held-out set is there, every template fills in, and no template's own
    words look like a value of the vocabularies (the judge looks for values as whole words)."""
    vocab = [*NAMES, *CITIES, *EMPLOYERS, *PET_NAMES, *COLOURS, *LIKE_ITEMS, *ANIMALS]
    sample = dict.fromkeys(("old", "new", "animal", "thing", "thing_us", "item"), "")
    for kind, sides in TEMPLATES.items():
        for side in sides:
            role = HOLDOUT_ROLES.get(side, side)
            assert len(holdout[kind][role]) >= 8, f"held-out {kind}/{role}: too few"
            for t in holdout[kind][role]:
                text = t.format(**_holdout_values(kind, side, t, sample))
                hits = [v for v in vocab if _states(text, v)]
                assert not hits, f"held-out {t!r} says {hits}"


# --- scenarios ---------------------------------------------------------------------------------
@dataclasses.dataclass
class Change:
    kind: str
    name: str
    user_id: str
    old: str  # the value before (likes: "yes"/"no")
    new: str
    d1: datetime  # when the old value was said
    d2: datetime  # when the new one was
    old_text: str
    new_text: str
    old_template: str  # "kind/old/3"
    new_template: str
    question: str
    slot: set[str]  # fact attributes of this slot (spelling variants)
    item: str | None = None  # likes: the food/drink; others: None


@dataclasses.dataclass
class Person:
    name: str
    user_id: str
    changes: list[Change]
    sessions: list[tuple[str, list[dict[str, Any]]]]  # (session_id, messages)


def _cap(text: str) -> str:
    return text[0].upper() + text[1:]


class Phrasings:
    """Draws the phrasings of each kind and side in turn from a shuffled deck, so that every
    phrasing is used about equally often even in a small run.

    With `holdout` set (a held-out set's name, in HOLDOUT_SETS) and `holdout_rng` (a generator
    of its own), that set's phrasings are drawn the same way from their own decks, while the
    dev draw is still made and dropped: the scenario generator's draws, hence people, values,
    days and small talk, stay those of `dev`. The held-out text is kept as written (its
    capitalisation is part of the phrasing)."""

    def __init__(
        self,
        rng: random.Random,
        holdout: str | None = None,
        holdout_rng: random.Random | None = None,
    ) -> None:
        self.rng = rng
        self.decks: dict[tuple[str, str], list[int]] = {}
        self.holdout = holdout
        self.holdout_rng = holdout_rng
        self.holdout_decks: dict[tuple[str, str], list[int]] = {}

    def pick(self, kind: str, side: str, **values: str) -> tuple[str, str]:
        deck = self.decks.setdefault((kind, side), [])
        if not deck:
            deck += range(len(TEMPLATES[kind][side]))
            self.rng.shuffle(deck)
        i = deck.pop()
        if self.holdout is None:
            return _cap(TEMPLATES[kind][side][i].format(**values)), f"{kind}/{side}/{i}"
        assert self.holdout_rng is not None, "a held-out set needs its own generator"
        role = HOLDOUT_ROLES.get(side, side)
        templates = HOLDOUT_SETS[self.holdout][kind][role]
        deck = self.holdout_decks.setdefault((kind, role), [])
        if not deck:
            deck += range(len(templates))
            self.holdout_rng.shuffle(deck)
        j = deck.pop()
        text = templates[j].format(**_holdout_values(kind, side, templates[j], values))
        return text, f"{self.holdout}/{kind}/{role}/{j}"


def _change(
    rng: random.Random,
    phrasings: Phrasings,
    kind: str,
    name: str,
    uid: str,
    d1: datetime,
    d2: datetime,
) -> Change:
    question = rng.choice(QUESTIONS[kind])
    item = None
    extra: dict[str, str] = {}
    if kind == "likes":
        item = rng.choice(LIKE_ITEMS)
        old, new = ("yes", "no") if rng.random() < 0.5 else ("no", "yes")
        old_side, new_side = (
            f"old_{'pos' if old == 'yes' else 'neg'}",
            f"new_{'pos' if new == 'yes' else 'neg'}",
        )
        extra["item"] = item
        slot = {f"likes:{item}"}
    else:
        old_side, new_side = "old", "new"
        if kind == "moved":
            old, new = rng.sample(CITIES, 2)
            slot = {"lives_in"}
        elif kind == "job":
            old, new = rng.sample(EMPLOYERS, 2)
            slot = {"works_at"}
        elif kind == "pet":
            old, new = rng.sample(PET_NAMES, 2)
            extra["animal"] = rng.choice(ANIMALS)
            slot = {f"name_of:{extra['animal']}"}
        else:
            thing = rng.choice(sorted(FAVOURITE_THINGS))
            thing_us, values = FAVOURITE_THINGS[thing]
            old, new = rng.sample(values, 2)
            extra.update(thing=thing, thing_us=thing_us)
            slot = {f"{f}:{t}" for f in ("favourite", "favorite") for t in (thing, thing_us)}
    # Both values to both sides: some held-out new statements name the old value too.
    old_text, old_template = phrasings.pick(kind, old_side, old=old, new=new, **extra)
    new_text, new_template = phrasings.pick(kind, new_side, old=old, new=new, **extra)
    return Change(
        kind=kind,
        name=name,
        user_id=uid,
        old=old,
        new=new,
        d1=d1,
        d2=d2,
        old_text=old_text,
        new_text=new_text,
        old_template=old_template,
        new_template=new_template,
        question=question.format(name=name, **extra),
        slot=slot,
        item=item,
    )


def _values(change: Change) -> list[str]:
    return [change.item] if change.item else [change.old, change.new]


def _chatter(rng: random.Random, n: int, avoid: list[str]) -> list[str]:
    pool = [c for c in CHATTER if not any(_states(c, v) for v in avoid)]
    return rng.sample(pool, min(n, len(pool)))


def scenarios(people: int, seed: int, phrasings_set: str = "dev") -> list[Person]:
    """`people` people, the same for a seed (and the same for every phrasing set but for the
    wording of the statements)."""
    _check_vocab()
    rng = random.Random(seed)
    if phrasings_set in HOLDOUT_SETS:
        _check_holdout(HOLDOUT_SETS[phrasings_set])
        # Each held-out set draws its phrasings with a generator of its own ("holdout-7", ...).
        phrasings = Phrasings(rng, phrasings_set, random.Random(f"{phrasings_set}-{seed}"))
    elif phrasings_set == "dev":
        phrasings = Phrasings(rng)
    else:
        raise ValueError(f"unknown phrasing set {phrasings_set!r}")
    out = []
    for index in range(people):
        name = NAMES[index % len(NAMES)] if people <= len(NAMES) else rng.choice(NAMES)
        uid = f"{name.lower()}{index}"
        base = rng.randint(0, 30)
        kinds = rng.sample(KINDS, rng.choice([1, 1, 2, 2, 3]))
        changes: list[Change] = []
        used: set[str] = set()
        for kind in kinds:
            d1 = START + timedelta(days=base + rng.randint(0, 20))
            d2 = d1 + timedelta(days=rng.randint(10, 120))
            while True:  # one person's changes never share a value (favourite food, likes)
                change = _change(rng, phrasings, kind, name, uid, d1, d2)
                values = {v.lower() for v in _values(change)}
                if not values & used:
                    break
            used |= values
            changes.append(change)
        avoid = [v for c in changes for v in _values(c)]
        by_day: dict[datetime, list[str]] = defaultdict(list)
        for c in changes:
            by_day[c.d1].append(c.old_text)
            by_day[c.d2].append(c.new_text)
        sessions = []
        for n, day in enumerate(sorted(by_day)):
            at = day + timedelta(hours=rng.randint(0, 10), minutes=rng.randint(0, 59))
            # Small talk (no line twice in a session): 0-2 exchanges first, then each
            # statement followed by 3-8 of them.
            counts = [rng.randint(0, 2)] + [rng.randint(3, 8) for _ in by_day[day]]
            talk = iter(_chatter(rng, sum(counts), avoid))
            blocks: list[list[tuple[str, str]]] = [
                [(next(talk), rng.choice(REPLIES)) for _ in range(counts[0])]
            ]
            for statement, n_talk in zip(by_day[day], counts[1:], strict=True):
                blocks.append([(statement, rng.choice(REPLIES))])
                blocks[-1] += [(next(talk), rng.choice(REPLIES)) for _ in range(n_talk)]
            messages: list[dict[str, Any]] = []
            for block in blocks:
                for user_text, reply in block:
                    for role, text in (("user", user_text), ("assistant", reply)):
                        at += timedelta(minutes=rng.randint(1, 3))
                        msg = {"role": role, "content": text, "timestamp": at.isoformat()}
                        if role == "user":
                            msg["name"] = name
                        messages.append(msg)
            sessions.append((f"{uid}-s{n + 1}", messages))
        out.append(Person(name, uid, changes, sessions))
    return out


# --- judging results ---------------------------------------------------------------------------
def _states(text: str, value: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(value)}(?!\w)", text, re.IGNORECASE) is not None


def stance(memory: dict[str, Any], change: Change) -> set[str]:
    """Which of the change's values a memory states: a subset of {old, new}."""
    content = memory.get("content") or ""
    if change.kind != "likes":
        return {v for v in (change.old, change.new) if _states(content, v)}
    assert change.item is not None
    fact = memory.get("fact") or {}
    if fact.get("attribute") in change.slot and fact.get("value") in ("yes", "no"):
        return {fact["value"]}
    if not _states(content, change.item):
        return set()
    # One of the change's own statements word for word (a message kept as it was): its stance.
    said = {
        v
        for v, text in ((change.old, change.old_text), (change.new, change.new_text))
        if text.lower() in content.lower()
    }
    if len(said) == 1:
        return said
    return {"no" if NEGATION.search(content) else "yes"}


def first_stating(results: list[dict[str, Any]], change: Change) -> set[str] | None:
    """What the first result that states either value states (None: no result does)."""
    for hit in results:
        said = stance(hit["memory"], change)
        if said:
            return said
    return None


def _slot_facts(memories: list[dict[str, Any]], change: Change, value: str) -> list[dict]:
    return [
        m
        for m in memories
        if (m.get("fact") or {}).get("attribute") in change.slot
        and (m.get("fact") or {}).get("value") == value.lower()
    ]


WEEKDAY = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"


def changed_from(text: str, said: datetime) -> datetime:
    """The earliest the change may have happened: when it was said, or the start of the time
    the statement dates it to ("I relocated to X last month")."""
    day = said.replace(hour=0, minute=0, second=0, microsecond=0)

    def says(pattern: str) -> bool:  # case aside: "Since the spring, ..." dates it too
        return re.search(pattern, text, re.IGNORECASE) is not None

    if says(r"\blast month\b"):  # also "over the last month"
        return (day.replace(day=1) - timedelta(days=1)).replace(day=1)
    if says(r"\ba couple of weeks\b"):  # (held-out 2) "a couple of weeks ago": up to three
        return day - timedelta(days=21)
    if says(r"\bfirst week\b"):  # (held-out 2) "first week at X done"
        return day - timedelta(days=14)
    if says(r"\blast week\b"):
        return day - timedelta(days=day.weekday() + 7)
    if says(r"\b(?:in|since) the spring\b"):
        return day.replace(year=day.year - (day.month < 3), month=3, day=1)
    if says(r"\bthis month\b"):  # (held-out 2) "as of this month"
        return day.replace(day=1)
    if says(rf"\b(?:was|started\b.* on) {WEEKDAY}\b"):
        return day - timedelta(days=7)  # (held-out 2) "moving day was Saturday" (not "starting
        # on monday": a change still to come is dated by when it was said)
    if says(r"\bthis week\b"):  # (held-out phrasings from here on)
        return day - timedelta(days=day.weekday())
    if says(r"\byesterday\b"):
        return day - timedelta(days=1)
    return said


def as_of_time(change: Change) -> datetime | None:
    """A moment when the old value surely held: halfway from the day after it was said to the
    earliest the change may have happened; None when the new statement dates the change so
    early that no such moment is sure (the question is then left out of as_of_old_first)."""
    after = change.d1 + timedelta(days=1)
    until = changed_from(change.new_text, change.d2)
    if until <= after:
        return None
    return after + (until - after) / 2


# --- the run -----------------------------------------------------------------------------------
async def _post(c: httpx.AsyncClient, url: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await c.post(url, json=body)
    if r.status_code >= 400:
        raise RuntimeError(f"POST {url} -> {r.status_code}: {r.text[:500]}")
    return r.json()


async def _without_validity(
    app: Any, search: Any, question: str, uid: str
) -> list[dict[str, Any]] | None:
    """The default search with the server's preference for still-valid facts turned off
    (`superseded_weight` 1: superseded facts keep their score); None if the server has no
    such setting. The in-process app's settings are swapped for the one call."""
    rt = app.state.runtime
    if not hasattr(rt.settings, "superseded_weight"):
        return None
    kept = rt.settings
    rt.settings = kept.model_copy(update={"superseded_weight": 1.0})
    try:
        return list(await search(question, uid))
    finally:
        rt.settings = kept


async def _semantic(c: httpx.AsyncClient, cube: str, uid: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"user_id": uid, "memory_type": "semantic", "limit": 1000}
        if cursor:
            params["cursor"] = cursor
        r = await c.get(f"/v1/cubes/{cube}/memories", params=params)
        r.raise_for_status()
        page = r.json()
        out += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return out


def _short(m: dict[str, Any] | None) -> dict[str, Any] | None:
    if m is None:
        return None
    return {
        "content": m["content"][:160],
        "type": m["memory_type"],
        "fact": m.get("fact"),
        "valid_from": m.get("valid_from"),
        "valid_to": m.get("valid_to"),
    }


async def run_mode(people: list[Person], settings: Any, top_k: int) -> dict[str, Any]:
    decisions: Counter[str] = Counter()
    changed: list[dict[str, Any]] = []  # the decisions other than add
    attributes: Counter[str] = Counter()  # of every extracted fact
    extracted_by: Counter[str] = Counter()
    rows: list[dict[str, Any]] = []
    search_ms: list[float] = []
    took_ms: list[float] = []
    async with local_tenant(settings) as (app, _, c):
        cube = (await _post(c, "/v1/cubes", {"name": "updates"}))["id"]
        started = time.perf_counter()
        calls = 0
        for person in people:
            for session_id, messages in person.sessions:
                for start in range(0, len(messages), MAX_MESSAGES):
                    out = await _post(
                        c,
                        f"/v1/cubes/{cube}/messages",
                        {
                            "messages": messages[start : start + MAX_MESSAGES],
                            "user_id": person.user_id,
                            "session_id": session_id,
                            "mode": "sync",
                        },
                    )
                    calls += 1
                    extracted_by[str(out.get("extracted_by"))] += 1
                    for m in out.get("memories", []):
                        decisions[m["decision"]] += 1
                        if m["decision"] != "add":
                            changed.append(
                                {
                                    "user_id": person.user_id,
                                    "decision": m["decision"],
                                    "content": m["memory"]["content"][:160],
                                    "fact": m["memory"].get("fact"),
                                    "reason": m.get("reason"),
                                }
                            )
        ingest_s = time.perf_counter() - started

        async def search(q: str, uid: str, **extra: Any) -> list[dict[str, Any]]:
            t0 = time.perf_counter()
            body = {"query": q, "top_k": top_k, "filters": {"user_id": uid}, **extra}
            out = await _post(c, f"/v1/cubes/{cube}/search", body)
            search_ms.append((time.perf_counter() - t0) * 1000)
            took_ms.append(out["took_ms"])
            return list(out["results"])

        for person in people:
            facts = await _semantic(c, cube, person.user_id)
            attributes.update(str((m.get("fact") or {}).get("attribute")) for m in facts)
            for ch in person.changes:
                results = await search(ch.question, person.user_id)
                as_of = as_of_time(ch)
                past = (
                    await search(ch.question, person.user_id, as_of=as_of.isoformat())
                    if as_of
                    else []
                )
                lexical = await search(ch.question, person.user_id, mode="lexical")
                plain = await _without_validity(app, search, ch.question, person.user_id)
                first = first_stating(results, ch)
                first_past = first_stating(past, ch)
                first_lex = first_stating(lexical, ch)
                top = results[0]["memory"] if results else None
                old_facts = _slot_facts(facts, ch, ch.old)
                new_facts = _slot_facts(facts, ch, ch.new)
                # Facts that name the old value under another attribute (a slot mismatch).
                stray = [
                    m
                    for m in facts
                    if m.get("fact")
                    and m not in old_facts
                    and ch.kind != "likes"
                    and (m["fact"].get("value") or "").lower() == ch.old.lower()
                ]
                pair = bool(old_facts and new_facts)
                rows.append(
                    {
                        "kind": ch.kind,
                        "user_id": ch.user_id,
                        "question": ch.question,
                        "old": f"{ch.item}: {ch.old}" if ch.item else ch.old,
                        "new": f"{ch.item}: {ch.new}" if ch.item else ch.new,
                        "d1": ch.d1.date().isoformat(),
                        "d2": ch.d2.date().isoformat(),
                        "old_text": ch.old_text,
                        "new_text": ch.new_text,
                        "old_template": ch.old_template,
                        "new_template": ch.new_template,
                        "current_first": first == {ch.new},
                        "fact_top1": bool(
                            top is not None and top.get("fact") and stance(top, ch) == {ch.new}
                        ),
                        "old_extracted": bool(old_facts),
                        "extracted": bool(new_facts),
                        "superseded_marked": (
                            all(m["valid_to"] is not None for m in old_facts)
                            and all(m["valid_to"] is None for m in new_facts)
                        )
                        if pair
                        else None,
                        "as_of": as_of.isoformat() if as_of else None,
                        "as_of_old_first": first_past == {ch.old} if as_of else None,
                        "baseline_current_first": first_lex == {ch.new},
                        "novalidity_current_first": (
                            first_stating(plain, ch) == {ch.new} if plain is not None else None
                        ),
                        "stray_old_facts": [_short(m) for m in stray],
                        "top": _short(top),
                        "first_stating": next(
                            (_short(h["memory"]) for h in results if stance(h["memory"], ch)),
                            None,
                        ),
                        "as_of_first_stating": next(
                            (_short(h["memory"]) for h in past if stance(h["memory"], ch)),
                            None,
                        ),
                        "old_facts": [_short(m) for m in old_facts],
                        "new_facts": [_short(m) for m in new_facts],
                    }
                )
    return {
        "questions": len(rows),
        "summary": summarise(rows),
        "decisions": dict(decisions),
        "decision_examples": changed,
        "fact_attributes": dict(attributes.most_common()),
        "extracted_by": dict(extracted_by),
        "templates": _templates(rows),
        "timings": {
            "ingest_s": round(ingest_s, 2),
            "messages_calls": calls,
            "messages": sum(len(m) for p in people for _, m in p.sessions),
            "search_p50_ms": round(statistics.median(search_ms), 1) if search_ms else None,
            "search_took_p50_ms": round(statistics.median(took_ms), 1) if took_ms else None,
        },
        "rows": rows,
    }


METRICS = (
    "current_first",
    "fact_top1",
    "extracted",
    "baseline_current_first",
    "novalidity_current_first",
)


def _rate(rows: list[dict[str, Any]], metric: str) -> float | None:
    rows = [r for r in rows if r[metric] is not None]
    return round(sum(r[metric] for r in rows) / len(rows), 3) if rows else None


def summarise(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {}
    for kind in (*KINDS, "overall"):
        group = [r for r in rows if kind in ("overall", r["kind"])]
        if not group:
            continue
        s: dict[str, Any] = {"questions": len(group)}
        for metric in METRICS:
            s[metric] = _rate(group, metric)
        # Ranking alone: the questions whose new fact was extracted.
        s["current_first_when_extracted"] = _rate(
            [r for r in group if r["extracted"]], "current_first"
        )
        pairs = [r for r in group if r["superseded_marked"] is not None]
        s["pairs"] = len(pairs)  # old and new fact both extracted
        s["superseded_marked"] = _rate(pairs, "superseded_marked")
        # Where the validity handling has something to work with: both facts extracted.
        s["current_first_pairs"] = _rate(pairs, "current_first")
        s["baseline_current_first_pairs"] = _rate(pairs, "baseline_current_first")
        s["novalidity_current_first_pairs"] = _rate(pairs, "novalidity_current_first")
        s["old_not_extracted"] = sum(not r["old_extracted"] for r in group)
        dated = [r for r in group if r["as_of_old_first"] is not None]
        s["as_of_questions"] = len(dated)
        s["as_of_old_first"] = _rate(dated, "as_of_old_first")
        s["as_of_old_first_when_old_extracted"] = _rate(
            [r for r in dated if r["old_extracted"]], "as_of_old_first"
        )
        out[kind] = s
    return out


def _templates(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per phrasing: how often the extractor made its fact."""
    seen: dict[str, list[bool]] = defaultdict(list)
    text: dict[str, str] = {}
    for r in rows:
        seen[r["old_template"]].append(r["old_extracted"])
        seen[r["new_template"]].append(r["extracted"])
        text.setdefault(r["old_template"], r["old_text"])
        text.setdefault(r["new_template"], r["new_text"])
    return {
        k: {"used": len(v), "extracted": sum(v), "example": text[k]}
        for k, v in sorted(seen.items())
    }


def _fmt(v: Any) -> str:
    return "-" if v is None else f"{v:.2f}" if isinstance(v, float) else str(v)


def print_table(label: str, result: dict[str, Any]) -> None:
    cols = [
        ("questions", "n"),
        ("current_first", "cur 1st"),
        ("current_first_when_extracted", "cur 1st|extr"),
        ("fact_top1", "fact top1"),
        ("superseded_marked", "superseded"),
        ("pairs", "pairs"),
        ("old_not_extracted", "old missed"),
        ("as_of_old_first", "as_of old 1st"),
        ("as_of_questions", "as_of n"),
        ("extracted", "extracted"),
        ("baseline_current_first", "lexical cur 1st"),
        ("novalidity_current_first", "no-validity cur 1st"),
    ]
    print(f"\n== {label} ==")
    print(f"{'kind':>10} " + " ".join(f"{h:>{max(len(h), 5)}}" for _, h in cols))
    for kind, s in result["summary"].items():
        print(f"{kind:>10} " + " ".join(f"{_fmt(s.get(k)):>{max(len(h), 5)}}" for k, h in cols))
    print(
        "baselines on the same data: lexical cur 1st = `mode: lexical` (BM25 only, validity "
        "preference still on); no-validity cur 1st = the default search with "
        "superseded_weight 1 (no preference for still-valid facts)"
    )
    print("superseded: of the `pairs`, the changes whose old and new facts were both extracted")
    overall = result["summary"]["overall"]
    print(
        f"where old and new facts were both extracted ({overall['pairs']}): current_first "
        f"{_fmt(overall['current_first_pairs'])}, lexical "
        f"{_fmt(overall['baseline_current_first_pairs'])}, no-validity "
        f"{_fmt(overall['novalidity_current_first_pairs'])}"
    )
    print(f"decisions: {result['decisions']}  extracted_by: {result['extracted_by']}")
    t = result["timings"]
    print(
        f"ingest {t['ingest_s']} s for {t['messages']} messages in {t['messages_calls']} calls; "
        f"search p50 {t['search_p50_ms']} ms (server took p50 {t['search_took_p50_ms']} ms)"
    )
    missed = [k for k, v in result["templates"].items() if v["extracted"] == 0]
    if missed:
        print("phrasings never extracted:")
        for k in missed:
            v = result["templates"][k]
            print(f"  {k} (x{v['used']}): {v['example']!r}")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from memsvc.config import Settings

    people = scenarios(args.people, args.seed, args.phrasings)
    tag = f", {args.phrasings} phrasings" if args.phrasings in HOLDOUT_SETS else ""
    out: dict[str, Any] = {}
    offline = Settings(enrichment=False, consolidation_cron="", llm_model=None)
    out["offline"] = await run_mode(people, offline, args.top_k)
    print_table(f"offline (rule-based extraction, no LLM{tag})", out["offline"])
    if not args.llm:
        out["llm"] = {"skipped": True, "reason": "not asked for (--llm)"}
        return out
    settings = Settings(enrichment=False, consolidation_cron="")
    if settings.llm_model is None:
        print("LLM run skipped: set MEMSVC_LLM_MODEL")
        out["llm"] = {"skipped": True}
        return out
    out["llm"] = await run_mode(people, settings, args.top_k)
    out["llm"]["model"] = settings.llm_model
    print_table(f"LLM ({settings.llm_model}{tag})", out["llm"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--top-k", type=int, default=10)
    parser.add_argument("--llm", action="store_true", help="also run with MEMSVC_LLM_MODEL")
    parser.add_argument(
        "--phrasings",
        choices=PHRASING_SETS,
        default="dev",
        help="dev: the templates here; holdout, holdout2: bench/updates_holdout.py, "
        "bench/updates_holdout2.py (each written blind to the extractor)",
    )
    parser.add_argument(
        "--json",
        default=None,
        help="default bench/results/updates.json (holdout, holdout2: "
        "bench/results/updates_holdout.json, bench/results/updates_holdout2.json)",
    )
    args = parser.parse_args()
    if args.json is None:
        suffix = f"_{args.phrasings}" if args.phrasings in HOLDOUT_SETS else ""
        args.json = f"bench/results/updates{suffix}.json"
    started = time.perf_counter()
    result = asyncio.run(run(args))
    off = result["offline"]["summary"]["overall"]
    checks = {
        "current_first>=0.90": off["current_first"] >= 0.90,
        "every_superseded_marked": off["superseded_marked"] == 1.0,
        "as_of_old_first": off["as_of_old_first"],
    }
    print(f"\noffline acceptance: {checks}")
    result = {
        "seed": args.seed,
        "people": args.people,
        "top_k": args.top_k,
        "phrasings": args.phrasings,
        "acceptance_offline": checks,
        **result,
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
        "wall_s": round(time.perf_counter() - started, 1),
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"wrote {args.json} in {result['wall_s']} s")


if __name__ == "__main__":
    main()
