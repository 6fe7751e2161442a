"""The LLM enrichment steps through litellm's own mock path (no network, no database)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from memsvc.algorithms import extraction, notes
from memsvc.algorithms.extraction import Triple
from memsvc.algorithms.notes import Note
from memsvc.services.enrich_llm import (
    CONTEXT_MAX_CHARS,
    ENTITIES_MAX,
    FALLBACK_LINK_TYPE,
    GraphReply,
    LinkChoice,
    LinkPlan,
    NeighbourUpdate,
    NeighbourView,
    build_note,
    clip_line,
    extract_graph,
    extraction_from_reply,
    fallback_plan,
    graph_prompt,
    links_prompt,
    note_prompt,
    plan_links,
)
from tests.integration.llm_doubles import MemorySink
from tests.integration.llm_doubles import mock_llm as _llm
from tests.integration.llm_doubles import no_model as _no_model

MODEL = "gpt-4o-mini"
GARBAGE = ["nope", "{still not json", "```json\n[1, 2]\n```"]  # three attempts: max retries 2

CONTENT = "Alice adopted a golden retriever named Max in Portland last spring."
WHEN = datetime(2024, 5, 1, 14, 30, tzinfo=UTC)

NOTE_REPLY = json.dumps(
    {
        "keywords": [
            *("golden retriever", " Max ", "golden Retriever", "", "Portland", "adoption"),
            *("k1", "k2", "k3", "k4", "k5"),
        ],
        "tags": ["pets", "Family", "  life   event ", "pets"],
        "context": "  Alice adopted   a dog in Portland. ",
    }
)

GRAPH_CONTENT = "I moved to New York City with Alice's brother Bob, and met Carol there."
GRAPH_REPLY = json.dumps(
    {
        "entities": ["Alice's", "New York City!", "Bob", "2021", "  "],
        "triples": [
            ["Sam", "Moved  To", "New York City!"],
            ["Bob", "is brother of", "Alice's"],
            ["Bob", "", "Sam"],
            ["", "likes", "Bob"],
            ["Sam", "knows"],
            ["Sam", "moved to", "the New York City"],
            ["Alice", "is", "alice's"],
            ["Sam", "met", "Carol"],
        ],
    }
)


def _neighbour(sim: float, *, keywords: tuple[str, ...] = (), tags: tuple[str, ...] = ()):
    return NeighbourView(
        id=uuid.uuid4(),
        content=f"an older memory at similarity {sim}",
        occurred_at=WHEN,
        keywords=keywords,
        tags=tags,
        context="Some earlier note",
        similarity=sim,
    )


NOTE = Note(keywords=("hiking", "Mount Hood", "trail"), tags=("outdoors", "travel"), context="x")


# --- build_note -------------------------------------------------------------------------------


async def test_build_note_cleans_the_reply_and_keeps_user_tags_first(test_settings):
    sink = MemorySink()
    note, source = await build_note(
        _llm(test_settings, [NOTE_REPLY]),
        content=CONTENT,
        occurred_at=WHEN,
        existing_tags=["family", "Personal"],
        usage_sink=sink,
    )
    assert source == "llm"
    assert note.keywords == (
        "golden retriever",
        "Max",
        "Portland",
        "adoption",
        "k1",
        "k2",
        "k3",
        "k4",
    )
    assert note.tags == ("family", "Personal", "pets", "life event")
    assert note.context == "Alice adopted a dog in Portland."
    [record] = sink.records
    assert record.task == "note" and record.source == "llm" and record.attempts == 1


async def test_build_note_clips_context_and_defaults_an_empty_one(test_settings):
    long = json.dumps({"keywords": ["a"], "tags": [], "context": "word " * 100})
    empty = json.dumps({"keywords": "dog, park", "tags": "pets", "context": "   "})
    note, _ = await build_note(
        _llm(test_settings, [long]),
        content=CONTENT,
        occurred_at=None,
        existing_tags=[],
        usage_sink=None,
    )
    assert len(note.context) <= CONTEXT_MAX_CHARS and note.context.endswith("…")
    note, source = await build_note(
        _llm(test_settings, [empty]),
        content=CONTENT,
        occurred_at=None,
        existing_tags=[],
        usage_sink=None,
    )
    assert source == "llm"
    assert note == Note(keywords=("dog", "park"), tags=("pets",), context=notes.DEFAULT_CONTEXT)


def test_note_prompt_carries_time_tags_and_content():
    [system, user] = note_prompt(CONTENT, WHEN, ["family"])
    assert system["role"] == "system" and "keywords" in system["content"]
    assert "2024-05-01T14:30+00:00" in user["content"]
    assert "family" in user["content"] and CONTENT in user["content"]
    [_, user] = note_prompt(CONTENT, None, [])
    assert "Recorded" not in user["content"]


async def test_build_note_falls_back_after_invalid_replies(test_settings):
    sink = MemorySink()
    note, source = await build_note(
        _llm(test_settings, GARBAGE),
        content=CONTENT,
        occurred_at=WHEN,
        existing_tags=["family"],
        usage_sink=sink,
    )
    assert source == "fallback"
    assert note == notes.note_for(CONTENT, existing_tags=["family"])
    [record] = sink.records
    assert record.source == "fallback" and record.attempts == 3 and record.prompt_tokens > 0


async def test_build_note_without_a_model_makes_no_call(test_settings):
    sink = MemorySink()
    note, source = await build_note(
        _no_model(test_settings),
        content=CONTENT,
        occurred_at=None,
        existing_tags=(),
        usage_sink=sink,
    )
    assert source == "fallback" and note == notes.note_for(CONTENT)
    assert sink.records == []


# --- plan_links -------------------------------------------------------------------------------


async def test_plan_links_maps_numbers_to_the_right_neighbours(test_settings):
    first = _neighbour(0.72, tags=("hobby",))
    second = _neighbour(0.91, tags=("outdoors",))
    third = _neighbour(0.64, tags=("weekend",))
    neighbours = [first, second, third]
    reply = {
        "links": [
            {"neighbour": 3, "type": "Same Event", "strength": 0.8},
            {"neighbour": 1, "type": "related", "strength": 0.35},
            {"neighbour": 7, "type": "related", "strength": 0.9},
            {"neighbour": 0, "type": "causes", "strength": 0.9},
            {"neighbour": 3, "type": "related", "strength": 0.1},
        ],
        "new_note_tags": ["outdoors", " Travel ", "mountains"],
        "neighbour_updates": [
            {"neighbour": 2, "tags": ["Outdoors", "hiking"], "context": "A hike up Mount Hood"},
            {"neighbour": 1, "tags": ["hobby"], "context": "Some earlier note"},  # no change
            {"neighbour": 9, "tags": ["x"]},
            {"neighbour": 3, "tags": None, "context": "  "},  # no change
            {"neighbour": 2, "tags": ["ignored"]},  # a repeated number keeps the first
        ],
    }
    sink = MemorySink()
    plan = await plan_links(
        _llm(test_settings, [json.dumps(reply)]),
        content="We hiked up Mount Hood.",
        note=NOTE,
        neighbours=neighbours,
        usage_sink=sink,
    )
    assert plan == LinkPlan(
        links=(
            LinkChoice(third.id, "same_event", 0.8),
            LinkChoice(first.id, "related", 0.35),
        ),
        new_tags=("outdoors", "Travel", "mountains"),
        updates=(NeighbourUpdate(second.id, ("Outdoors", "hiking"), "A hike up Mount Hood"),),
        source="llm",
    )
    [record] = sink.records
    assert record.task == "links" and record.source == "llm"


async def test_plan_links_keeps_unchanged_new_tags_as_none(test_settings):
    n = _neighbour(0.7)
    reply = {"links": [], "new_note_tags": ["outdoors", "travel"]}
    plan = await plan_links(
        _llm(test_settings, [json.dumps(reply)]),
        content="c",
        note=NOTE,
        neighbours=[n],
        usage_sink=None,
    )
    assert plan == LinkPlan((), None, (), "llm")


def test_links_prompt_numbers_neighbours_and_hides_their_ids():
    neighbours = [_neighbour(0.8), _neighbour(0.7)]
    [system, user] = links_prompt("We hiked up Mount Hood.", NOTE, neighbours)
    assert "same_event" in system["content"]
    text = user["content"]
    assert "[1]" in text and "[2]" in text and "[3]" not in text
    assert all(str(n.id) not in text for n in neighbours)
    assert "Mount Hood" in text and "similarity 0.80" in text


def test_fallback_rule_links_and_evolves_by_similarity():
    close = _neighbour(0.9, keywords=("Paris",), tags=("city",))
    shared = _neighbour(0.55, keywords=("HIKING", "mount hood"), tags=("sport",))
    one_shared = _neighbour(0.55, keywords=("hiking",))
    far = _neighbour(0.3, keywords=("hiking", "trail"), tags=("misc",))
    already = _neighbour(0.95, tags=("outdoors", "travel"))
    plan = fallback_plan(NOTE, [far, close, shared, one_shared, already])
    assert plan.source == "fallback" and plan.new_tags is None
    assert plan.links == (
        LinkChoice(close.id, FALLBACK_LINK_TYPE, 0.9),
        LinkChoice(shared.id, FALLBACK_LINK_TYPE, 0.55),
        LinkChoice(already.id, FALLBACK_LINK_TYPE, 0.95),
    )
    # only the close neighbour evolves: `already` has the tags, `shared` is below 0.8
    assert plan.updates == (NeighbourUpdate(close.id, ("city", "outdoors", "travel"), None),)


async def test_plan_links_falls_back_to_the_rule(test_settings):
    neighbours = [_neighbour(0.3), _neighbour(0.9, tags=("city",))]
    sink = MemorySink()
    plan = await plan_links(
        _llm(test_settings, GARBAGE),
        content="c",
        note=NOTE,
        neighbours=neighbours,
        usage_sink=sink,
    )
    assert plan == fallback_plan(NOTE, neighbours)
    assert len(plan.links) == 1 and len(plan.updates) == 1
    assert [r.source for r in sink.records] == ["fallback"]


async def test_plan_links_without_neighbours_makes_no_call(test_settings):
    sink = MemorySink()
    llm = _llm(test_settings, ['{"links": []}'])
    plan = await plan_links(llm, content="c", note=NOTE, neighbours=[], usage_sink=sink)
    assert plan == LinkPlan((), None, (), "fallback")
    assert sink.records == []


# --- extract_graph ----------------------------------------------------------------------------


async def test_extract_graph_normalises_the_reply(test_settings):
    sink = MemorySink()
    result, source = await extract_graph(
        _llm(test_settings, [GRAPH_REPLY]), content=GRAPH_CONTENT, speaker="Sam", usage_sink=sink
    )
    assert source == "llm"
    assert result.triples == (
        Triple("sam", "moved to", "new york city"),
        Triple("bob", "is brother of", "alice"),
        Triple("sam", "met", "carol"),
    )
    assert result.entities == ("alice", "new york city", "bob", "sam", "carol")
    assert result.attributes == ()
    [record] = sink.records
    assert record.task == "extraction" and record.source == "llm"


def test_graph_prompt_names_the_speaker():
    [system, user] = graph_prompt(GRAPH_CONTENT, "Sam")
    assert "triples" in system["content"] and "pronoun" in system["content"]
    assert '"I", "me" and "my" refer to Sam' in user["content"]
    assert GRAPH_CONTENT in user["content"]
    assert "speaker" not in graph_prompt(GRAPH_CONTENT, None)[1]["content"]


def test_extraction_caps_keep_every_triple_end():
    given = [f"thing {i}" for i in range(100)]
    triples = [[f"person {i}", "knows", f"place {i}"] for i in range(30)]
    result = extraction_from_reply(GraphReply(entities=given, triples=triples))
    assert len(result.triples) == 20 and len(result.entities) == ENTITIES_MAX
    ends = {key for t in result.triples for key in (t.subject, t.object)}
    assert ends <= set(result.entities)
    assert result.entities[0] == "thing 0"  # first appearance order


def test_long_relations_are_clipped():
    reply = GraphReply(triples=[["Ann", "Went  " + "very " * 30 + "far to", "Oslo"]])
    [triple] = extraction_from_reply(reply).triples
    assert triple.relation.startswith("went very") and len(triple.relation) <= 60


async def test_extract_graph_retries_a_schema_mismatch(test_settings):
    sink = MemorySink()
    wrong = '{"entities": "Alice", "triples": "none"}'
    result, source = await extract_graph(
        _llm(test_settings, [wrong, GRAPH_REPLY]),
        content=GRAPH_CONTENT,
        speaker="Sam",
        usage_sink=sink,
    )
    assert source == "llm" and Triple("sam", "met", "carol") in result.triples
    [record] = sink.records
    assert record.attempts == 2 and record.source == "llm"


async def test_extract_graph_falls_back_to_the_rules(test_settings):
    result, source = await extract_graph(
        _llm(test_settings, GARBAGE), content=GRAPH_CONTENT, speaker="Sam", usage_sink=None
    )
    assert source == "fallback"
    assert result == extraction.extract(GRAPH_CONTENT, speaker="Sam")
    assert result.triples  # the rules do find something here


async def test_extract_graph_without_a_model_makes_no_call(test_settings):
    sink = MemorySink()
    result, source = await extract_graph(
        _no_model(test_settings), content=GRAPH_CONTENT, speaker=None, usage_sink=sink
    )
    assert source == "fallback" and result == extraction.extract(GRAPH_CONTENT)
    assert sink.records == []


# --- usage ------------------------------------------------------------------------------------


async def test_usage_is_recorded_per_step(test_settings):
    sink = MemorySink()
    # one model answers the three steps in turn: note, three bad link replies, graph
    llm = _llm(test_settings, [NOTE_REPLY, *GARBAGE, GRAPH_REPLY])
    note, _ = await build_note(
        llm, content=CONTENT, occurred_at=WHEN, existing_tags=(), usage_sink=sink
    )
    await plan_links(llm, content=CONTENT, note=note, neighbours=[_neighbour(0.7)], usage_sink=sink)
    await extract_graph(llm, content=CONTENT, speaker=None, usage_sink=sink)
    assert [(r.task, r.source, r.attempts) for r in sink.records] == [
        ("note", "llm", 1),
        ("links", "fallback", 3),
        ("extraction", "llm", 1),
    ]
    assert all(r.model == MODEL for r in sink.records)
    assert all(r.prompt_tokens > 0 and r.completion_tokens > 0 for r in sink.records)
    assert all(r.cost_usd is not None and r.cost_usd > 0 for r in sink.records)


def test_clip_line():
    assert clip_line("  a   b ") == "a b"
    assert clip_line(None) == ""
    clipped = clip_line("abc " * 100, limit=50)
    assert len(clipped) <= 50 and clipped.endswith("abc…")
