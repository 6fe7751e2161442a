"""Extractive MemoryBank summaries and portraits (memsvc.algorithms.summaries)."""

from __future__ import annotations

import random
from datetime import date

import pytest

from memsvc.algorithms.summaries import (
    cut_at_sentence,
    cut_at_word,
    daily_summary,
    global_summary,
    portrait,
    split_sentences,
    third_person,
)

DAY = date(2023, 5, 7)

MARKET_DAY = [
    "Alice: I went to the farmers market with Bob this morning.",
    "Bob: Okay! Nice.",
    "Alice: We bought fresh tomatoes and basil at the farmers market.",
    "Alice: My cousin called about her new job in Denver.",
    "Bob: The tomatoes and basil from the market made a great salad.",
    "Alice: Then we watched a movie.",
]


# --- split_sentences ------------------------------------------------------------------------


def test_split_sentences_on_punctuation_and_lines():
    text = "First one. Second one!  Third?\n\n  Fourth line without stop\nFifth…  Sixth."
    assert split_sentences(text) == [
        "First one.",
        "Second one!",
        "Third?",
        "Fourth line without stop",
        "Fifth…",
        "Sixth.",
    ]


def test_split_sentences_keeps_abbreviations_initials_and_decimals():
    text = "Dr. Smith met J. Doe at 3 p.m. today. It cost 3.50 dollars, e.g. cheap. Done."
    assert split_sentences(text) == [
        "Dr. Smith met J. Doe at 3 p.m. today.",
        "It cost 3.50 dollars, e.g. cheap.",
        "Done.",
    ]


def test_split_sentences_quotes_and_blank():
    assert split_sentences('He said "stop." Then left.') == ['He said "stop."', "Then left."]
    assert split_sentences("") == []
    assert split_sentences("   \n\t ") == []
    assert split_sentences("a   b\tc") == ["a b c"]


# --- daily_summary --------------------------------------------------------------------------


def test_daily_summary_picks_central_sentences_in_order():
    summary = daily_summary(DAY, MARKET_DAY)
    assert summary.startswith("On 2023-05-07: ")
    body = summary.removeprefix("On 2023-05-07: ")
    # the three market sentences share the day's vocabulary; cousin, movie and "Okay" do not
    assert body == (
        "Alice: I went to the farmers market with Bob this morning. "
        "Alice: We bought fresh tomatoes and basil at the farmers market. "
        "Bob: The tomatoes and basil from the market made a great salad."
    )


def test_daily_summary_respects_max_sentences():
    for k in (1, 2, 3, 5, 50):
        body = daily_summary(DAY, MARKET_DAY, max_sentences=k).removeprefix("On 2023-05-07: ")
        assert len(split_sentences(body)) == min(k, 5)  # "Okay! Nice." never joins
    assert daily_summary(DAY, MARKET_DAY, max_sentences=0) == ""


def test_daily_summary_keeps_original_order_not_score_order():
    texts = ["Weather talk is short.", *MARKET_DAY]
    body = daily_summary(DAY, texts, max_sentences=2).removeprefix("On 2023-05-07: ")
    chosen = split_sentences(body)
    positions = [next(i for i, t in enumerate(texts) if s.rstrip(".") in t) for s in chosen]
    assert positions == sorted(positions)


def test_daily_summary_skips_trivial_sentences_unless_nothing_else():
    summary = daily_summary(DAY, ["Ok.", "Sure thing!", "We planned the trip to Lisbon."], 2)
    assert "Ok." not in summary and "Sure thing!" not in summary
    assert "Lisbon" in summary
    only_short = daily_summary(DAY, ["Ok.", "Yes!"])
    assert only_short == "On 2023-05-07: Ok. Yes!"


def test_daily_summary_dedupes_repeated_sentences_and_adds_stops():
    summary = daily_summary(DAY, ["we adopted a cat", "We adopted a cat.", "we adopted a cat"])
    assert summary == "On 2023-05-07: we adopted a cat."


def test_daily_summary_empty_and_deterministic():
    assert daily_summary(DAY, []) == ""
    assert daily_summary(DAY, ["", "  "]) == ""
    rng = random.Random(7)
    words = "alpha beta gamma delta market tomato salad river mountain train".split()
    texts = [" ".join(rng.choices(words, k=rng.randint(2, 9))) + "." for _ in range(40)]
    assert daily_summary(DAY, texts) == daily_summary(DAY, list(texts))


# --- global_summary -------------------------------------------------------------------------


def test_global_summary_newest_first_and_prefixed():
    daily = [
        (date(2023, 5, 1), "On 2023-05-01: We went hiking."),
        (date(2023, 5, 3), "Bought a bike."),  # no date: gets one
        (date(2023, 5, 2), "   "),  # blank: skipped
    ]
    assert global_summary(daily) == (
        "On 2023-05-03: Bought a bike.\nOn 2023-05-01: We went hiking."
    )
    assert global_summary([]) == ""


@pytest.mark.parametrize("max_chars", [0, 5, 30, 45, 60, 61, 100, 1000])
def test_global_summary_cut_at_sentence_under_max(max_chars):
    daily = [
        (date(2023, 5, d), f"On 2023-05-{d:02d}: Event number {d} happened. It was fine.")
        for d in range(1, 10)
    ]
    out = global_summary(daily, max_chars=max_chars)
    assert len(out) <= max_chars
    full = global_summary(daily, max_chars=10_000)
    assert full.startswith(out)
    if out and len(out) < len(full) and max_chars >= 45:
        assert out.endswith(".")  # a sentence boundary, not mid-word
    if max_chars >= 45:
        assert out.startswith("On 2023-05-09")


def test_cut_helpers():
    assert cut_at_word("hello wonderful world", 16) == "hello wonderful"
    assert cut_at_word("hello wonderful world", 15) == "hello wonderful"
    assert cut_at_word("hello wonderful world", 14) == "hello"
    assert cut_at_word("abcdefghij", 4) == "abcd"
    assert cut_at_word("short", 10) == "short"
    assert cut_at_word("x", 0) == ""
    assert cut_at_sentence("One. Two three. Four.", 16) == "One. Two three."
    assert cut_at_sentence("One. Two three. Four.", 5) == "One."
    assert cut_at_sentence("Averylongfirstsentence here. B.", 10) == "Averylongf"
    for n in range(0, 40):
        assert len(cut_at_sentence("A b c. D e f g h! I j k? Lmnop qrs.", n)) <= n


# --- portrait -------------------------------------------------------------------------------


def test_portrait_rewrites_first_person_statements():
    texts = [
        "Hi! I love hiking in the mountains, but I hate crowds.",
        "I'm a software engineer at Acme. My favorite color is blue.",
        "I have a golden retriever named Max and I usually walk my dog at 6am.",
        "I feel a bit tired today.",
    ]
    assert portrait("Sam", texts).split("\n") == [
        "Sam loves hiking in the mountains.",
        "Sam hates crowds.",
        "Sam is a software engineer at Acme.",
        "Sam's favorite color is blue.",
        "Sam has a golden retriever named Max.",
        "Sam usually walks their dog at 6am.",
        "Sam feels a bit tired today.",
    ]


def test_portrait_last_wins_and_moves_to_the_end():
    texts = [
        "My favorite color is blue. I love tea.",
        "I'm 34 years old.",
        "I hate tea now. Actually my favorite color is green.",
        "I am 35.",
    ]
    assert portrait("Ana", texts).split("\n") == [
        "Ana hates tea now.",
        "Ana's favorite color is green.",
        "Ana is 35.",
    ]


def test_portrait_negations_and_lower_case_chat():
    out = portrait(
        "Lee", ["i like sushi and i hate olives", "I don't like jazz. I do not own a car."]
    )
    assert out.split("\n") == [
        "Lee likes sushi.",
        "Lee hates olives.",
        "Lee does not like jazz.",
        "Lee does not own a car.",
    ]


def test_portrait_skips_questions_hypotheticals_and_chat_phrases():
    texts = [
        "Do you think I like jazz?",
        "If I have time, I will call.",
        "I'm not sure. I'm going to the store. I have to go. I have been there.",
        "I love it! I like that.",
        "When I feel better we can talk.",
    ]
    assert portrait("Sam", texts) == ""


def test_portrait_dedupes_and_caps_items():
    texts = [f"I like topic{i}." for i in range(20)] + ["I like topic3.", "I like Topic3!"]
    lines = portrait("Kim", texts, max_items=5).split("\n")
    assert lines == [
        "Kim likes topic16.",
        "Kim likes topic17.",
        "Kim likes topic18.",
        "Kim likes topic19.",
        "Kim likes Topic3.",
    ]
    assert len(portrait("Kim", texts, max_items=100).split("\n")) == 20
    assert portrait("Kim", texts, max_items=0) == ""


def test_portrait_empty_label_and_typographic_apostrophes():
    out = portrait("  ", ["I’m vegetarian and I’ve got two kids."])
    assert out.split("\n") == ["The user is vegetarian.", "The user has two kids."]


def test_portrait_habits_conjugate():
    texts = ["I always go to bed late.", "I never watch TV.", "I often try sushi."]
    texts += ["I usually don't eat meat.", "I always read before bed."]
    assert portrait("Bo", texts).split("\n") == [
        "Bo always goes to bed late.",
        "Bo never watches TV.",
        "Bo often tries sushi.",
        "Bo always reads before bed.",
    ]


def test_third_person():
    assert [third_person(v) for v in ("go", "try", "watch", "play", "have", "fix", "run")] == [
        "goes",
        "tries",
        "watches",
        "plays",
        "has",
        "fixes",
        "runs",
    ]
    assert third_person("went") == "went" and third_person("liked") == "liked"
