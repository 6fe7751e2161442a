"""TiM thoughts, the deterministic parts (memsvc/algorithms/thoughts.py, algorithms.md §3.5)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from memsvc.algorithms.thoughts import (
    ANSWER_RELATION,
    MERGE_THRESHOLD,
    THOUGHTS_MAX,
    USER,
    MergeCandidate,
    MergeGroup,
    Thought,
    contradicted,
    merge_groups,
    merged_thought,
    normalise_entity,
    normalise_relation,
    post_think,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def triples(question: str, answer: str) -> list[tuple[str, str, str]]:
    return [(t.head, t.relation, t.tail) for t in post_think(question, answer)]


# --- normalisation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("Alice", "alice"),
        ("  The   Eiffel Tower ", "eiffel tower"),
        ("the Beatles'", "beatles"),
        ("Alice's", "alice"),
        ("an apple!", "apple"),
        ("New-York City", "new york city"),
        ("ÉCOLE", "école"),
        ("The", "the"),  # an article alone stays
        ("", ""),
    ],
)
def test_normalise_entity(text, want):
    assert normalise_entity(text) == want


@pytest.mark.parametrize(
    ("relation", "want"),
    [
        ("Lives  In", "lives in"),
        ("live in", "lives in"),
        ("are", "is"),
        ("were", "was"),
        ("have", "has"),
        ("like", "likes"),
        ("moved to", "moved to"),
        ("is sister of", "is sister of"),
        ("", ""),
    ],
)
def test_normalise_relation(relation, want):
    assert normalise_relation(relation) == want


# --- post_think: patterns -----------------------------------------------------------------------


def test_simple_statements_become_triples():
    assert triples(
        "Where does Alice live?", "Alice lives in Paris. She works at Acme Corp as an engineer."
    ) == [("Alice", "lives in", "Paris"), ("Alice", "works at", "Acme Corp")]


def test_thought_text_is_a_standalone_statement():
    [t] = post_think("Where does Bob live?", "He lives in Oslo.")
    assert t == Thought("Bob lives in Oslo", "Bob", "lives in", "Oslo")


def test_pronoun_resolves_to_the_last_named_subject_before_the_question_entity():
    got = triples("Tell me about Bob", "Alice is Bob's sister. She lives in Rome, near the sea.")
    assert got == [("Alice", "is", "Bob's sister"), ("Alice", "lives in", "Rome")]


def test_pronoun_resolves_to_the_question_entity():
    assert triples("Is Alice married?", "Yes, she's married to Tom since 2019.") == [
        ("Alice", "is married to", "Tom")
    ]


def test_possessive_pronoun_resolves():
    [t] = post_think("What does Bob think of his job?", "His boss is a tyrant.")
    assert (t.head, t.relation, t.tail) == ("Bob's boss", "is", "tyrant")
    assert t.text == "Bob's boss is a tyrant"


def test_it_refers_to_the_question_topic_never_a_person_named_before():
    got = triples("Tell me about the Eiffel Tower", "It is in Paris.")
    assert got == [("Eiffel Tower", "is in", "Paris")]
    # "it" after a person: not that person; resolved to the question's topic instead
    got = triples("What about the car?", "Alice bought it. It is red.")
    assert ("Alice", "is", "red") not in got
    assert ("car", "is", "red") in got


def test_dummy_it_is_not_a_thought():
    got = triples("Who is Frank?", "It is hard to say. Frank and Grace are friends with Heidi.")
    assert got == [("Frank and Grace", "is friends with", "Heidi")]


def test_unresolvable_pronoun_gives_no_triple():
    [t] = post_think("How are things?", "She likes tea.")
    assert t.relation == ANSWER_RELATION


def test_you_in_the_answer_is_the_user():
    [t] = post_think("Where do I live?", "You live in Berlin now.")
    assert t == Thought("The user lives in Berlin", USER, "lives in", "Berlin")


def test_your_in_the_answer_is_the_users():
    [t] = post_think("Any news?", "Your sister moved to Lisbon.")
    assert (t.head, t.relation, t.tail) == ("user's sister", "moved to", "Lisbon")
    assert t.text == "The user's sister moved to Lisbon"


def test_first_person_in_the_answer_is_the_assistant_and_skipped():
    [t] = post_think("Any pets?", "I have a dog. My sister Alice has a cat.")
    assert t.relation == ANSWER_RELATION


def test_statements_in_the_users_message_are_read_too():
    got = triples(
        "I just moved to Berlin last week. Any tips?",
        "Berlin has great museums! You should visit the Pergamon.",
    )
    # the advice ("should visit") is no fact; the move and the museums are
    assert got == [(USER, "moved to", "Berlin"), ("Berlin", "has", "great museums")]


def test_questions_in_the_users_message_are_not_statements():
    got = triples("Do I live in Paris?", "Yes.")
    assert [r for _, r, _ in got] == [ANSWER_RELATION]


def test_my_in_the_users_message_is_the_users():
    got = triples("My sister Alice moved to Rome. What should she see?", "The Pantheon.")
    assert got == [("user's sister Alice", "moved to", "Rome")]


def test_verbs_agree_with_a_replaced_subject():
    assert post_think("?", "You are a nurse.")[0].text == "The user is a nurse"
    assert post_think("?", "You have two cats.")[0].text == "The user has two cats"
    assert post_think("?", "You like jazz.")[0].text == "The user likes jazz"
    assert post_think("?", "You do not like jazz.")[0].text == "The user does not like jazz"
    [t] = post_think("Where do Ann and Ben live?", "They live in Oslo.")
    assert t.head == "Ann and Ben" and t.relation == "lives in"


@pytest.mark.parametrize(
    ("answer", "want"),
    [
        ("Carol is a doctor.", ("Carol", "is", "doctor")),
        ("Carol was a teacher.", ("Carol", "was", "teacher")),
        ("Carol has a dog.", ("Carol", "has", "dog")),
        ("Carol has moved to Oslo.", ("Carol", "moved to", "Oslo")),
        ("Carol likes to swim.", ("Carol", "likes to", "swim")),
        ("Carol loves jazz and blues.", ("Carol", "loves", "jazz and blues")),
        ("Carol is working at the hospital.", ("Carol", "works at", "hospital")),
        ("Carol was living in Rome.", ("Carol", "lived in", "Rome")),
        ("Carol was born in Lisbon in 1990.", ("Carol", "was born in", "Lisbon")),
        ("Carol is from Spain.", ("Carol", "is from", "Spain")),
        ("Carol will move to Oslo.", ("Carol", "will move to", "Oslo")),
        ("Carol doesn't like tea.", ("Carol", "not likes", "tea")),
        ("Carol did not enjoy the winter.", ("Carol", "not enjoyed", "winter")),
        ("Carol no longer lives in Paris.", ("Carol", "not lives in", "Paris")),
        ("Carol isn't a student.", ("Carol", "not is", "student")),
        ("Carol never visited Japan.", ("Carol", "not visited", "Japan")),
        ("Carol really enjoys hiking.", ("Carol", "enjoys", "hiking")),
        ("Carol lives in Paris now.", ("Carol", "lives in", "Paris")),
        ("Carol moved to Paris two years ago.", ("Carol", "moved to", "Paris")),
        ("Carol works at the Bank of America.", ("Carol", "works at", "Bank of America")),
        ("The cat is black.", ("cat", "is", "black")),
        ("Mount Everest is in Nepal.", ("Mount Everest", "is in", "Nepal")),
        ("Well, Carol prefers coffee.", ("Carol", "prefers", "coffee")),
    ],
)
def test_statement_patterns(answer, want):
    assert triples("Any news?", answer) == [want]


def test_two_clauses_joined_by_and_pronoun():
    got = triples(
        "Where was Carol born?", "Carol was born in Lisbon in 1990 and she is living in Madrid."
    )
    assert got == [("Carol", "was born in", "Lisbon"), ("Carol", "lives in", "Madrid")]


def test_semicolons_split_statements():
    got = triples("Does Alice like tea?", "No, Alice no longer likes tea; she prefers coffee.")
    assert got == [("Alice", "not likes", "tea"), ("Alice", "prefers", "coffee")]


def test_time_is_kept_in_the_text_but_not_the_tail():
    [t] = post_think("?", "Carol moved to Paris last year.")
    assert t.tail == "Paris" and t.text == "Carol moved to Paris last year"


@pytest.mark.parametrize(
    "answer",
    [
        "The tower was built in 1889.",  # passive
        "You should see the Pantheon.",  # advice
        "He likes it.",  # object pronoun, nothing to resolve "he" to either
        "This is great.",
        "There is a park nearby.",
        "Alice, my friend, lives in Rome.",  # the subject is broken by commas
    ],
)
def test_no_triple_for(answer):
    [t] = post_think("Anything?", answer)
    assert t.relation == ANSWER_RELATION


# --- post_think: the fallback thought and edge cases --------------------------------------------


def test_summary_thought_when_nothing_matches():
    [t] = post_think("What's the capital of France?", "Paris. Lovely in spring!")
    assert t == Thought(
        text="What's the capital of France? -> Paris.",
        head="France",
        relation=ANSWER_RELATION,
        tail="Paris.",
    )


def test_summary_head_falls_back_to_a_noun_ish_word():
    [t] = post_think("what is my favourite color", "Blue, I believe.")
    assert t.head == "color" and t.tail == "Blue, I believe."
    assert t.text == "what is my favourite color -> Blue, I believe."


def test_summary_head_from_the_answer_when_the_question_has_none():
    [t] = post_think("What?", "Bob said so.")
    assert t.head == "Bob"


def test_question_words_and_imperatives_are_not_entities():
    [t] = post_think("Remind me where Alice lives", "Nobody knows.")
    assert t.head == "Alice"
    [t] = post_think("Does Tom know?", "Nobody knows.")
    assert t.head == "Tom"


def test_whitespace_is_collapsed_in_the_summary():
    [t] = post_think("  Where\n is   Oslo? ", "  In\nNorway.  ")
    assert t.text == "Where is Oslo? -> In Norway."


def test_blank_input_gives_nothing_and_one_sided_input_something():
    assert post_think("", "") == []
    assert post_think("  ", "\n") == []
    [t] = post_think("", "Sure.")
    assert t.text == "Sure." and t.relation == ANSWER_RELATION and t.head
    [t] = post_think("Hello?", "")
    assert t.text == "Hello?" and t.head and t.relation == ANSWER_RELATION


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("?", "!"),
        ("...", "…"),
        ("1 + 1", "2"),
        ("日本の首都は?", "東京です。"),
        ("a" * 5000, "b" * 5000),
        ("Why?", "Because."),
    ],
)
def test_never_empty_for_non_empty_input(question, answer):
    out = post_think(question, answer)
    assert out and all(t.text and t.head and t.relation for t in out)
    assert all(len(t.text) <= 300 for t in out)


def test_duplicates_are_dropped():
    got = triples("Where does Alice live?", "Alice lives in Paris. Alice lives in the Paris.")
    assert got == [("Alice", "lives in", "Paris")]


def test_at_most_thoughts_max():
    answer = " ".join(f"Person{i} lives in City{i}." for i in range(THOUGHTS_MAX + 5))
    assert len(post_think("Who lives where?", answer)) == THOUGHTS_MAX


def test_post_think_is_deterministic():
    q, a = "Tell me about Bob", "Alice is Bob's sister. She lives in Rome."
    assert post_think(q, a) == post_think(q, a)


# --- contradicted -------------------------------------------------------------------------------


def th(head: str, relation: str, tail: str) -> Thought:
    return Thought(f"{head} {relation} {tail}", head, relation, tail)


def test_same_head_and_relation_different_tail_is_contradicted():
    old = [
        (1, th("Alice", "lives in", "Paris")),
        (2, th("Alice", "works at", "Acme")),
        (3, th("Bob", "lives in", "Paris")),
        (4, th("the Alice", "Lives In", "Rome")),
    ]
    assert contradicted(th("Alice", "lives in", "Berlin"), old) == [1, 4]


def test_same_tail_is_not_contradicted():
    old = [(1, th("Alice", "lives in", "the Paris")), (2, th("alice's", "live in", "Paris!"))]
    assert contradicted(th("Alice", "lives in", "Paris"), old) == []


def test_relation_person_does_not_matter():
    assert contradicted(th("Alice", "lives in", "Oslo"), [("a", th("Alice", "live in", "Rome"))])
    assert contradicted(
        th("Ann", "work at", "Acme"), [("a", th("Ann", "works at", "Initech"))]
    ) == ["a"]


def test_only_single_valued_relations_are_replaced_by_a_new_tail():
    # "is" and "likes" hold many values at once: a new one does not outdate the old
    assert contradicted(th("Ann", "are", "happy"), [("a", th("Ann", "is", "sad"))]) == []
    assert contradicted(th("Ann", "likes", "coffee"), [("a", th("Ann", "likes", "tea"))]) == []
    assert contradicted(th("Ann", "is married to", "Bo"), [("a", th("Ann", "is married to", "Cy"))])


def test_answer_relation_never_contradicts():
    summary = Thought("Q -> A", "Alice", ANSWER_RELATION, "A")
    other = Thought("Q -> B", "Alice", ANSWER_RELATION, "B")
    assert contradicted(summary, [(1, other)]) == []
    assert contradicted(th("Alice", "answer", "x"), [(1, other)]) == []
    assert contradicted(th("Alice", "lives in", "Rome"), [(1, other)]) == []


def test_negation_flips_the_same_triple():
    old = [(1, th("Alice", "likes", "tea")), (2, th("Alice", "likes", "coffee"))]
    assert contradicted(th("Alice", "not likes", "tea"), old) == [1]
    assert contradicted(th("Alice", "likes", "tea"), [(1, th("Alice", "not likes", "tea"))]) == [1]
    assert contradicted(th("Alice", "does not like", "tea"), old) == [1]
    assert contradicted(th("Alice", "is", "happy"), [(7, th("Alice", "is not", "happy"))]) == [7]


def test_negated_relations_do_not_outdate_other_tails():
    old = [(1, th("Alice", "not likes", "tea"))]
    assert contradicted(th("Alice", "not likes", "coffee"), old) == []


def test_blank_new_thought_contradicts_nothing():
    old = [(1, th("Alice", "lives in", "Paris"))]
    assert contradicted(Thought("x", "", "lives in", "Rome"), old) == []
    assert contradicted(Thought("x", "Alice", "lives in", "  "), old) == []
    assert contradicted(Thought("x", "Alice", "", "Rome"), old) == []
    assert contradicted(th("Alice", "lives in", "Rome"), []) == []


def test_keys_are_generic_and_keep_order():
    ids = [uuid.uuid4() for _ in range(3)]
    old = [
        (ids[2], th("A", "lives in", "x")),
        (ids[0], th("A", "lives in", "y")),
        (ids[1], th("A", "lives in", "z")),
    ]
    assert contradicted(th("A", "lives in", "y"), old) == [ids[2], ids[1]]


# --- merge --------------------------------------------------------------------------------------


def unit(v: list[float]) -> np.ndarray:
    a = np.asarray(v, dtype=np.float32)
    return a / np.linalg.norm(a)


def cand(key, head: str, vector, minutes: int, text: str = "") -> MergeCandidate:
    thought = Thought(text or f"{head} {key}", head, "likes", str(key))
    return MergeCandidate(key, thought, np.asarray(vector), T0 + timedelta(minutes=minutes))


def test_near_duplicates_with_the_same_head_merge_into_the_oldest():
    items = [
        cand("new", "Alice", unit([1, 0.01, 0]), 5),
        cand("old", "Alice", unit([1, 0, 0]), 0),
        cand("mid", "alice", unit([1, 0.02, 0]), 3),
        cand("far", "Alice", unit([0, 1, 0]), 1),
    ]
    assert merge_groups(items) == [MergeGroup("old", ("mid", "new"))]


def test_different_heads_never_merge():
    items = [cand(1, "Alice", unit([1, 0]), 0), cand(2, "Bob", unit([1, 0]), 1)]
    assert merge_groups(items) == []


def test_head_is_compared_normalised():
    items = [cand(1, "The Beatles", unit([1, 0]), 0), cand(2, "beatles'", unit([1, 0]), 1)]
    assert merge_groups(items) == [MergeGroup(1, (2,))]


def test_threshold_is_inclusive():
    cos = 0.92
    a = np.array([1.0, 0.0])
    b = np.array([cos, np.sqrt(1 - cos**2)])
    items = [cand(1, "A", a, 0), cand(2, "A", b, 1)]
    assert merge_groups(items, threshold=cos - 1e-9) == [MergeGroup(1, (2,))]
    assert merge_groups(items, threshold=cos + 1e-6) == []
    assert MERGE_THRESHOLD == 0.92


def test_grouping_is_transitive():
    # a~b and b~c at 0.95, but a and c only about 0.81 apart
    angle = np.arccos(0.95)
    vec = [np.array([np.cos(k * angle), np.sin(k * angle)]) for k in range(3)]
    items = [cand("a", "X", vec[0], 0), cand("c", "X", vec[2], 2), cand("b", "X", vec[1], 1)]
    assert float(vec[0] @ vec[2]) < 0.92
    assert merge_groups(items) == [MergeGroup("a", ("b", "c"))]


def test_several_groups_come_oldest_survivor_first():
    items = [
        cand("b2", "B", unit([0, 1]), 9),
        cand("a2", "A", unit([1, 0]), 8),
        cand("b1", "B", unit([0, 1]), 2),
        cand("a1", "A", unit([1, 0]), 4),
        cand("solo", "C", unit([1, 1]), 0),
    ]
    assert merge_groups(items) == [MergeGroup("b1", ("b2",)), MergeGroup("a1", ("a2",))]


def test_equal_times_fall_back_to_input_order():
    items = [cand(i, "A", unit([1, 0]), 0) for i in (3, 1, 2)]
    assert merge_groups(items) == [MergeGroup(3, (1, 2))]


def test_vectors_are_normalised_and_zero_vectors_merge_with_nothing():
    items = [
        cand(1, "A", np.array([3.0, 0.0]), 0),
        cand(2, "A", np.array([0.5, 0.01]), 1),
        cand(3, "A", np.zeros(2), 2),
        cand(4, "A", np.zeros(2), 3),
    ]
    assert merge_groups(items) == [MergeGroup(1, (2,))]


def test_merge_groups_edge_cases():
    assert merge_groups([]) == []
    assert merge_groups([cand(1, "A", unit([1, 0]), 0)]) == []
    assert merge_groups([cand(1, "", unit([1, 0]), 0), cand(2, "", unit([1, 0]), 1)]) == []
    with pytest.raises(ValueError):
        merge_groups([cand(1, "A", unit([1, 0]), 0), cand(2, "A", unit([1, 0, 0]), 1)])


def test_merge_groups_is_deterministic_under_a_real_embedding_size():
    rng = np.random.default_rng(0)
    base = rng.standard_normal((5, 384))
    vectors = [unit(list(b + 0.05 * rng.standard_normal(384))) for b in base for _ in range(3)]
    items = [cand(i, "H", v, i) for i, v in enumerate(vectors)]
    groups = merge_groups(items)
    assert groups == merge_groups(list(items))
    assert groups == [MergeGroup(3 * g, (3 * g + 1, 3 * g + 2)) for g in range(5)]


def test_merged_thought_is_the_newest():
    group = [th("Alice", "likes", "tea"), th("alice", "likes", "green tea")]
    assert merged_thought(group) == group[-1]
    assert merged_thought(group[:1]) == group[0]
    with pytest.raises(ValueError):
        merged_thought([])
