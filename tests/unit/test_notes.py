"""The deterministic A-MEM note builder (research/algorithms.md §1.7)."""

from __future__ import annotations

import math
import time

import pytest

from memsvc.algorithms.notes import (
    CONTEXT_MAX_CHARS,
    EVOLVE_THRESHOLD,
    LINK_THRESHOLD,
    MAX_TAGS,
    STOPWORDS,
    Note,
    evolve_tags,
    extract_keyphrases,
    note_for,
    note_text,
    should_evolve,
    should_link,
)

RECIPE = (
    "Bring a large pot of salted water to a boil. Cook the spaghetti for 9 minutes, until al "
    "dente. Meanwhile, warm olive oil in a pan and fry sliced garlic with chili flakes. Toss the "
    "drained spaghetti with the garlic oil, parsley and grated Parmesan. Serve the spaghetti "
    "immediately."
)
MEETING = (
    "Weekly sync, 2024-03-12. Attendees: Priya, Tom, Lena.\n"
    "- Priya presented the Q2 roadmap; the mobile app redesign slips to May.\n"
    "- Tom reported that the billing migration to Stripe is 80% done.\n"
    "- Action: Lena to draft the onboarding survey by Friday.\n"
    "- Next sync: the billing migration review with the finance team."
)
CHAT = (
    "Alice: I finally adopted a rescue dog last weekend! She's a three-year-old beagle called "
    "Daisy and she loves long walks in Riverside Park."
)
TECH = (
    "The ingestion worker reads events from the Kafka topic, batches them and writes to "
    "PostgreSQL. When the batch size exceeds 500 rows the worker flushes early. Retries use "
    "exponential backoff; after five failed retries the event goes to a dead-letter queue. "
    "The ingestion worker exposes Prometheus metrics on port 9100."
)
UNICODE = (
    "Zoë visited the Musée d’Orsay in Paris and loved the Impressionist paintings. "
    "Then Zoë went to Café de Flore."
)


def _words(phrases: list[str]) -> set[str]:
    return {w.lower() for p in phrases for w in p.split()}


@pytest.mark.parametrize(
    ("text", "expected_terms"),
    [
        (RECIPE, {"spaghetti", "garlic", "salted water"}),
        (MEETING, {"billing migration", "Priya", "weekly sync"}),
        (CHAT, {"rescue dog", "Riverside Park"}),
        (TECH, {"ingestion worker", "Kafka topic", "PostgreSQL"}),
        (UNICODE, {"Impressionist paintings", "Café de Flore"}),
    ],
    ids=["recipe", "meeting", "chat", "technical", "unicode"],
)
def test_keyphrases_hold_the_obvious_terms(text, expected_terms):
    phrases = extract_keyphrases(text, max_phrases=8)
    assert 0 < len(phrases) <= 8
    lowered = {p.lower() for p in phrases}
    for term in expected_terms:
        assert term.lower() in lowered, (term, phrases)
    # casing: proper-noun-looking phrases keep it, the others are lowercase
    for term in expected_terms:
        if term[0].isupper():
            assert term in phrases


@pytest.mark.parametrize("text", [RECIPE, MEETING, CHAT, TECH, UNICODE])
def test_keyphrases_are_well_formed(text):
    phrases = extract_keyphrases(text, max_phrases=20)
    assert len(phrases) == len({p.lower() for p in phrases})
    for phrase in phrases:
        words = phrase.lower().split()
        assert 1 <= len(words) <= 3
        assert words[0] not in STOPWORDS and words[-1] not in STOPWORDS
        assert not all(w in STOPWORDS for w in words)
        # numbers, dates and times are dropped; "Q2" is a word
        assert not any(w.replace(".", "").replace(":", "").isdigit() for w in words), phrase
        assert len(set(words)) == len(words)
    # no phrase is word-wise contained in a better-ranked one
    for i, worse in enumerate(phrases):
        for better in phrases[:i]:
            assert f" {worse.lower()} " not in f" {better.lower()} "


@pytest.mark.parametrize("text", [RECIPE, MEETING, CHAT, TECH, UNICODE])
def test_deterministic(text):
    assert extract_keyphrases(text) == extract_keyphrases(text)
    assert note_for(text, existing_tags=["x"]) == note_for(text, existing_tags=["x"])


@pytest.mark.parametrize("text", ["", " ", "\n\t  \n", "the of and to", "42 3.5 10:30", "!!! ???"])
def test_degenerate_inputs(text):
    assert extract_keyphrases(text) == []
    note = note_for(text)
    assert note.keywords == ()
    assert note.tags == ()
    assert 0 < len(note.context) <= CONTEXT_MAX_CHARS


def test_empty_content_keeps_existing_tags_and_default_context():
    assert note_for("   ", existing_tags=["work", " ", "Work"]) == Note((), ("work",), "General")


@pytest.mark.parametrize("max_phrases", [0, -1, 1, 3])
def test_max_phrases(max_phrases):
    assert len(extract_keyphrases(TECH, max_phrases=max_phrases)) == max(0, max_phrases)


def test_very_long_input_is_fast():
    text = "\n".join([RECIPE, MEETING, CHAT, TECH, UNICODE] * 200)
    assert len(text.encode()) > 100_000
    start = time.perf_counter()
    phrases = extract_keyphrases(text)
    note = note_for(text)
    assert time.perf_counter() - start < 10.0  # guards against super-linear blowups only
    assert phrases and note.keywords
    assert len(note.context) <= CONTEXT_MAX_CHARS


def test_single_unbroken_long_line():
    text = "word " * 30_000 + "Zebra"
    note = note_for(text)
    assert len(note.context) <= CONTEXT_MAX_CHARS
    assert note.keywords[0] == "word"
    assert any("Zebra" in k for k in note.keywords)


def test_unicode_keeps_accents_and_proper_case():
    phrases = extract_keyphrases(UNICODE)
    assert any("Zoë" in p for p in phrases)
    assert "Paris" in phrases
    cjk = extract_keyphrases("東京は日本の首都です。 東京タワーは有名です。")
    assert cjk  # statistics work without English stopwords
    assert extract_keyphrases("Ünïcödé façade naïve café résumé") != []


@pytest.mark.parametrize(
    ("content", "context"),
    [
        (TECH, TECH.split(". ")[0] + "."),
        (RECIPE, "Bring a large pot of salted water to a boil."),
        ("Sounds good. We can talk about the garden project tomorrow.", None),
        ("Dr. Smith moved the appointment to Tuesday afternoon.", None),
        ("x" * 500, None),
        ("A " + "very " * 60 + "long first sentence about gardening tools.", None),
        ("ok thanks!", "ok thanks!"),
    ],
)
def test_context_is_one_short_line(content, context):
    note = note_for(content)
    assert 0 < len(note.context) <= CONTEXT_MAX_CHARS
    assert "\n" not in note.context
    if context is not None:
        assert note.context == context


def test_context_falls_back_to_keyphrases():
    note = note_for("Sounds good. We can talk about the garden project tomorrow.")
    assert note.context.startswith("About ")
    assert note.keywords[0] in note.context
    long_first = note_for("A " + "very " * 60 + "long first sentence about gardening tools.")
    assert long_first.context.startswith("About ")


def test_abbreviation_does_not_end_the_first_sentence():
    note = note_for("Dr. Smith moved the appointment to Tuesday afternoon. Bring the forms.")
    assert note.context == "Dr. Smith moved the appointment to Tuesday afternoon."


@pytest.mark.parametrize(
    ("content", "existing", "expected_prefix", "expected_new"),
    [
        (RECIPE, (), (), {"spaghetti", "garlic", "oil"}),
        (TECH, ("Engineering",), ("Engineering",), {"worker", "ingestion"}),
        (MEETING, ("billing", "Work"), ("billing", "Work"), {"migration", "sync"}),
    ],
)
def test_tags_are_content_words_merged_after_existing(
    content, existing, expected_prefix, expected_new
):
    tags = note_for(content, existing_tags=existing).tags
    assert tags[: len(expected_prefix)] == expected_prefix
    derived = tags[len(expected_prefix) :]
    assert 1 <= len(derived) <= 3
    assert expected_new <= set(derived) | {t.lower() for t in expected_prefix}
    for tag in derived:
        assert tag == tag.lower() and " " not in tag and tag not in STOPWORDS
    assert len({t.lower() for t in tags}) == len(tags)


def test_tags_capped_and_deduplicated():
    existing = [f"tag{i}" for i in range(MAX_TAGS - 1)] + ["TAG0", "  "]
    tags = note_for(RECIPE, existing_tags=existing).tags
    assert len(tags) == MAX_TAGS
    assert tags[: MAX_TAGS - 1] == tuple(existing[: MAX_TAGS - 1])
    many = note_for(RECIPE, existing_tags=[f"t{i}" for i in range(20)]).tags
    assert many == tuple(f"t{i}" for i in range(MAX_TAGS))


def test_note_text_contains_every_part():
    note = note_for(TECH, existing_tags=["engineering"])
    text = note_text(TECH, note)
    assert text.startswith(TECH)
    assert note.context in text
    for part in (*note.keywords, *note.tags):
        assert part in text
    assert note_text("hi", Note(("k1", "k2"), ("t",), "ctx")) == "hi , ctx k1 k2 t"


@pytest.mark.parametrize(
    ("similarity", "shared", "expected"),
    [
        (0.95, 0, True),
        (LINK_THRESHOLD, 0, True),
        (LINK_THRESHOLD - 0.01, 0, False),
        (LINK_THRESHOLD - 0.01, 1, False),
        (LINK_THRESHOLD - 0.05, 2, True),  # shared keywords lower the bar by the margin
        (LINK_THRESHOLD - 0.2, 5, False),  # but not without limit
        (0.0, 10, False),
        (-0.3, 0, False),
        (math.nan, 3, False),
    ],
)
def test_should_link(similarity, shared, expected):
    assert should_link(similarity, shared) is expected


def test_should_link_threshold_is_tunable():
    assert should_link(0.4, 0, threshold=0.35)
    assert not should_link(0.7, 0, threshold=0.9)


@pytest.mark.parametrize(
    ("similarity", "expected"),
    [(0.95, True), (EVOLVE_THRESHOLD, True), (0.79, False), (math.nan, False)],
)
def test_should_evolve(similarity, expected):
    assert should_evolve(similarity) is expected


@pytest.mark.parametrize(
    ("neighbour", "new", "max_tags", "expected"),
    [
        (("cooking",), ("recipe", "pasta"), 8, ("cooking", "recipe", "pasta")),
        (("cooking", "pasta"), ("Pasta", "italian"), 8, ("cooking", "pasta", "italian")),
        ((), ("a", "b"), 8, ("a", "b")),
        (("a", "b"), (), 8, ("a", "b")),
        (("a", "b"), ("c", "d", "e"), 3, ("a", "b", "c")),
        # the neighbour never loses its own tags, even past the cap
        (("a", "b", "c", "d"), ("e",), 2, ("a", "b", "c", "d")),
        (("a", "A", " "), ("", "b"), 8, ("a", "b")),
    ],
)
def test_evolve_tags(neighbour, new, max_tags, expected):
    assert evolve_tags(neighbour, new, max_tags=max_tags) == expected


def test_evolve_tags_default_cap():
    out = evolve_tags(["x"], [f"t{i}" for i in range(20)])
    assert len(out) == MAX_TAGS and out[0] == "x"
