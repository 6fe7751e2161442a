"""Deterministic extraction of typed memories from messages (memsvc.algorithms.message_extract)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from memsvc.algorithms.message_extract import REDACTED, Extracted, Message, extract
from memsvc.domain.fields import SECRET_FIELD, validate_fields
from memsvc.domain.types import MemoryType

TS = datetime(2024, 5, 8, 15, 30, tzinfo=UTC)  # a Wednesday
GITHUB = "ghp_" + "aB3dE5gH7jK9mN1pQ3sT5vX7zA9cE1gI3kM5"
OPENAI = "sk-proj-" + "Zx81Qw72Er63Ty54Ui45Op36As27Df18"
HEX = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b"


def user(text: str, *, name: str | None = "Sam", ts: datetime | None = TS) -> Message:
    return Message("user", text, name=name, timestamp=ts)


def run(*texts: str, **kw) -> list[Extracted]:
    return extract([user(t, **kw) for t in texts])


def of_type(items: list[Extracted], memory_type: str) -> list[Extracted]:
    return [x for x in items if x.memory_type == memory_type]


def slots(items: list[Extracted]) -> list[tuple[str | None, str | None]]:
    return [(x.attribute, x.value) for x in items if x.memory_type == "semantic"]


def assert_valid(items: list[Extracted]) -> None:
    """Every extraction's fields pass its type's schema (the vault secret goes in separately)."""
    for x in items:
        fields = dict(x.fields)
        if x.memory_type == "knowledge_vault":
            assert SECRET_FIELD not in fields
            fields[SECRET_FIELD] = x.secret
        validate_fields(MemoryType(x.memory_type), fields)
        assert x.content and x.content == x.content.strip()
        assert x.subject == x.subject.lower()


# --- semantic slots -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "attribute", "value", "content"),
    [
        ("I live in Berlin.", "lives_in", "berlin", "Sam lives in Berlin."),
        ("I currently live in New York City with my wife.", "lives_in", "new york city", None),
        ("I'm based in Lisbon now.", "lives_in", "lisbon", "Sam lives in Lisbon."),
        ("I just moved to Munich!", "lives_in", "munich", "Sam lives in Munich."),
        ("I live in the Netherlands.", "lives_in", "netherlands", "Sam lives in the Netherlands."),
        ("I live in the US.", "lives_in", "us", "Sam lives in the US."),
        ("I'm originally from Brazil.", "from", "brazil", "Sam is from Brazil."),
        ("I work at Google.", "works_at", "google", "Sam works at Google."),
        ("I work for Acme Corp as a manager.", "works_at", "acme corp", "Sam works for Acme Corp."),
        ("I just started at Stripe.", "works_at", "stripe", "Sam works at Stripe."),
        ("I started a new job at Shopify.", "works_at", "shopify", None),
        ("I work at Procter and Gamble.", "works_at", "procter and gamble", None),
        ("I'm a teacher.", "job", "teacher", "Sam is a teacher."),
        ("I'm an engineer.", "job", "engineer", "Sam is an engineer."),
        ("I work as a nurse.", "job", "nurse", "Sam is a nurse."),
        ("I'm a software developer.", "job", "software developer", None),
        ("I study at Oxford.", "studies_at", "oxford", "Sam studies at Oxford."),
        ("My name is Sam Smith.", "name", "sam smith", "Sam's name is Sam Smith."),
        ("my name is alex and I live here", "name", "alex", None),
        ("Please call me Kat.", "name", "kat", "Sam's name is Kat."),
        ("My dog is called Max.", "name_of:dog", "max", "Sam's dog is called Max."),
        ("My cat's name is Luna.", "name_of:cat", "luna", "Sam's cat is called Luna."),
        ("My dog Rex loves the park.", "name_of:dog", "rex", "Sam's dog is called Rex."),
        ("My sister is named Ana.", "name_of:sister", "ana", "Sam's sister is called Ana."),
        ("My favourite colour is blue.", "favourite:colour", "blue", None),
        ("My favorite food is sushi.", "favourite:food", "sushi", "Sam's favourite food is sushi."),
        ("Pizza is my favourite food.", "favourite:food", "pizza", None),
        ("I like coffee.", "likes:coffee", "yes", "Sam likes coffee."),
        ("I really love hiking.", "likes:hiking", "yes", "Sam loves hiking."),
        ("I enjoy cooking Thai food.", "likes:cooking thai food", "yes", None),
        ("I prefer tea over coffee.", "likes:tea", "yes", "Sam prefers tea over coffee."),
        ("I love to swim.", "likes:swim", "yes", "Sam loves to swim."),
        ("I'm a big fan of jazz.", "likes:jazz", "yes", "Sam is a fan of jazz."),
        ("I'm into photography.", "likes:photography", "yes", "Sam is into photography."),
        ("I don't like tea.", "likes:tea", "no", "Sam does not like tea."),
        ("I do not really like horror movies.", "likes:horror movies", "no", None),
        ("I hate mushrooms.", "likes:mushrooms", "no", "Sam hates mushrooms."),
        ("I no longer like jazz.", "likes:jazz", "no", "Sam no longer likes jazz."),
        ("I can't stand cilantro.", "likes:cilantro", "no", "Sam can't stand cilantro."),
        ("I'm not a fan of opera.", "likes:opera", "no", "Sam is not a fan of opera."),
        ("I have a car.", "has:car", "yes", "Sam has a car."),
        ("I've got a bike.", "has:bike", "yes", "Sam has a bike."),
        ("I own an iPhone.", "has:iphone", "yes", "Sam owns an iPhone."),
        ("I have two kids.", "has:kid", "two", "Sam has two kids."),
        ("I don't have a car anymore.", "has:car", "no", "Sam does not have a car."),
        ("I'm allergic to peanuts.", "allergic_to:peanuts", "yes", "Sam is allergic to peanuts."),
        ("I'm not allergic to cats.", "allergic_to:cats", "no", "Sam is not allergic to cats."),
        ("My birthday is May 5.", "birthday", "may 5", "Sam's birthday is May 5."),
        (
            "My birthday is on the 3rd of March.",
            "birthday",
            "march 3",
            "Sam's birthday is March 3.",
        ),
        ("I was born in 1990.", "birth_year", "1990", "Sam was born in 1990."),
        ("I was born in Lyon.", "born_in", "lyon", "Sam was born in Lyon."),
        ("I'm 34 years old.", "age", "34", "Sam is 34 years old."),
        ("I am 29.", "age", "29", "Sam is 29 years old."),
        ("I just turned 40!", "age", "40", "Sam is 40 years old."),
        ("I'm married.", "relationship", "married", "Sam is married."),
        ("I'm vegetarian.", "diet", "vegetarian", "Sam is vegetarian."),
        ("I'm a vegan.", "diet", "vegan", "Sam is vegan."),
    ],
)
def test_first_person_statements_fill_slots(text, attribute, value, content):
    items = run(text)
    assert_valid(items)
    facts = of_type(items, "semantic")
    assert (attribute, value) in slots(items), slots(items)
    fact = next(f for f in facts if f.attribute == attribute)
    assert fact.subject == "sam"
    assert fact.occurred_at == TS
    assert fact.message_index == 0
    assert fact.fields["name"] == "Sam"
    assert fact.fields["details"] == text.strip()
    assert fact.fields["summary"] == fact.content
    assert fact.content.endswith(".")
    if content is not None:
        assert fact.content == content


def test_the_semantic_fields_carry_a_triple():
    (likes,) = run("I don't like tea.")
    assert (likes.fields["relation"], likes.fields["tail"]) == ("not_likes", "tea")
    (lives,) = run("I live in Berlin.")
    assert (lives.fields["relation"], lives.fields["tail"]) == ("lives_in", "berlin")
    (cats,) = run("I have three cats.")
    assert (cats.fields["relation"], cats.fields["tail"]) == ("has", "three cat")
    assert cats.fields["source"] == "conversation"


def test_one_sentence_can_hold_several_facts():
    items = run("I'm a software engineer at Google and I live in Zurich.")
    assert set(slots(items)) == {
        ("job", "software engineer"),
        ("works_at", "google"),
        ("lives_in", "zurich"),
    }
    assert set(slots(run("I'm a PhD student at MIT."))) == {
        ("job", "phd student"),
        ("studies_at", "mit"),
    }
    assert set(slots(run("I have two cats and a dog named Rex."))) == {
        ("has:cat", "two"),
        ("has:dog", "yes"),
        ("name_of:dog", "rex"),
    }
    assert set(slots(run("I'm allergic to peanuts, shellfish and penicillin."))) == {
        ("allergic_to:peanuts", "yes"),
        ("allergic_to:shellfish", "yes"),
        ("allergic_to:penicillin", "yes"),
    }


def test_trailing_fillers_and_time_expressions_leave_the_value():
    assert slots(run("I live in Paris now.")) == [("lives_in", "paris")]
    assert slots(run("I've been working at IBM for 3 years.")) == []  # perfect tense: no rule
    assert slots(run("I work at IBM for 3 years now.")) == [("works_at", "ibm")]
    assert ("lives_in", "berlin") in slots(run("I moved to Berlin in 2019."))
    assert slots(run("I like coffee a lot.")) == [("likes:coffee", "yes")]


def test_pronouns_become_third_person():
    (fact,) = of_type(run("I work at my dad's company."), "semantic")
    assert fact.content == "Sam works at their dad's company."
    assert fact.value == "their dad's company"


def test_a_relative_birthday_resolves_against_the_message_time():
    (fact,) = run("My birthday is tomorrow.")
    assert (fact.attribute, fact.value) == ("birthday", "may 9")
    assert fact.content == "Sam's birthday is May 9."
    assert run("My birthday is tomorrow.", ts=None) == []  # nothing to resolve against
    assert run("My birthday is a secret.") == []


@pytest.mark.parametrize(
    "text",
    [
        # questions
        "Do I like tea?",
        "do I like tea",
        "Where do I live in Berlin?",
        "Am I allergic to peanuts?",
        "What is my name?",
        "Is my favourite colour blue?",
        "I live in Berlin, right?",
        # hypotheticals and wishes
        "If I lived in Paris, I would be happy.",
        "If I live in Paris next year, that would be great.",
        "I wish I lived in Rome.",
        "Imagine I was a doctor.",
        "Suppose I have a dog.",
        "Maybe I like jazz.",
        "When I work at Google, I will be rich.",
        # third parties
        "My sister lives in Rome.",
        "Sam lives in Berlin.",
        "She works at Google.",
        "My brother is a teacher.",
        'He said "I love tea".',
        "You live in Berlin.",
        # negated, past, future or intended states
        "I don't live in Berlin anymore.",
        "I used to live in Paris.",
        "I used to work at IBM.",
        "I'm moving to Berlin next month.",
        "I want to work at Google.",
        "I'd like a coffee.",
        "I would love to live in Spain.",
        # not facts at all
        "I love you.",
        "I like it.",
        "I like your idea.",
        "I like to think that it works.",
        "I'm a bit tired.",
        "I'm a big believer in sleep.",
        "I'm a morning person.",
        "I'm a former teacher.",
        "I'm 5 minutes away.",
        "I'm sorry.",
        "I have a question.",
        "I have an idea.",
        "I have to go.",
        "I have a lot of work.",
        "I'm from the marketing team.",
        "I work from home.",
        "I work at night.",
        "I started at 9am.",
        "I moved to a new apartment.",
        "I live in a small flat.",
        "Call me later.",
        "Call me tomorrow.",
        "My name is not important.",
        "My key is in the drawer.",
        "My password is too weak.",
        "The code is broken.",
        "The key is to relax.",
        "My token is expired.",
    ],
)
def test_no_fact_from_questions_hypotheticals_third_parties_or_noise(text):
    items = run(text)
    assert slots(items) == [], slots(items)
    assert of_type(items, "knowledge_vault") == []


def test_assistant_statements_about_the_user_are_not_facts():
    msgs = [
        Message("assistant", "You live in Berlin and you love jazz. I live in the cloud."),
        Message("system", "I live in Berlin. My password is hunter22."),
        Message("tool", "I like coffee. https://example.com"),
    ]
    assert extract(msgs) == []


# --- speakers -------------------------------------------------------------------------------


def test_the_speaker_is_the_label_else_the_message_name_else_the_user():
    (a,) = extract([user("I live in Oslo.", name="Kim")], user_label="Sam Lee")
    assert (a.subject, a.content) == ("sam lee", "Sam Lee lives in Oslo.")
    (b,) = extract([user("I live in Oslo.", name="Kim")])
    assert (b.subject, b.content) == ("kim", "Kim lives in Oslo.")
    (c,) = extract([user("I live in Oslo.", name=None)])
    assert (c.subject, c.content) == ("user", "The user lives in Oslo.")
    (d,) = extract([user("My name is Kim.", name=None)])
    assert d.content == "The user's name is Kim."
    assert d.fields["name"] == "The user"


def test_roles_are_case_insensitive_and_human_is_a_user():
    (x,) = extract([Message("Human", "I live in Oslo.")])
    assert x.attribute == "lives_in"
    (y,) = extract([Message(" USER ", "I live in Oslo.")])
    assert y.attribute == "lives_in"


# --- episodic -------------------------------------------------------------------------------


def test_yesterday_resolves_against_the_message_timestamp():
    (event,) = run("Yesterday I went to the dentist.")
    assert event.memory_type == "episodic"
    assert event.content == "Sam went to the dentist."
    assert event.occurred_at == datetime(2024, 5, 7, tzinfo=UTC)
    assert event.fields == {
        "event_type": "user_event",
        "summary": "Sam went to the dentist.",
        "details": "Yesterday I went to the dentist.",
        "actor": "user",
    }
    assert (event.attribute, event.value) == (None, None)
    assert_valid([event])


def test_the_resolution_follows_the_message_timezone_and_time():
    tz = timezone(timedelta(hours=-7))
    late = datetime(2024, 5, 8, 23, 0, tzinfo=tz)  # already May 9 in UTC
    (event,) = run("Yesterday I went to the dentist.", ts=late)
    assert event.occurred_at == datetime(2024, 5, 7, tzinfo=tz)
    (other,) = run("Yesterday I went to the dentist.", ts=datetime(2023, 1, 1, 9, tzinfo=UTC))
    assert other.occurred_at == datetime(2022, 12, 31, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "content", "occurred_at"),
    [
        ("Last week we visited Rome.", "Sam and others visited Rome.", datetime(2024, 4, 29)),
        ("I ran a marathon on Sunday.", "Sam ran a marathon.", datetime(2024, 5, 5)),
        ("In May 2023 I finally finished my thesis.", "Sam finally finished their thesis.",
         datetime(2023, 5, 1)),
        ("Two days ago I bought a new laptop.", "Sam bought a new laptop.", datetime(2024, 5, 6)),
        ("I was sick last night.", "Sam was sick.", datetime(2024, 5, 7, 18)),
        ("This morning I cooked pancakes for my kids.", "Sam cooked pancakes for their kids.",
         datetime(2024, 5, 8, 6)),
    ],
)  # fmt: skip
def test_past_events_with_a_time_expression(text, content, occurred_at):
    events = of_type(run(text), "episodic")
    assert [e.content for e in events] == [content]
    assert events[0].occurred_at == occurred_at.replace(tzinfo=UTC)


def test_event_verbs_need_no_time_expression_and_default_to_the_message_time():
    (event,) = run("I went to the gym.")
    assert (event.content, event.occurred_at) == ("Sam went to the gym.", TS)
    (married,) = of_type(run("I got married!"), "episodic")
    assert married.content == "Sam got married."
    assert of_type(run("I thought so."), "episodic") == []  # not an event verb, no time
    assert of_type(run("I wanted more."), "episodic") == []


def test_each_clause_takes_its_own_time_expression():
    events = of_type(run("I first met Anna in 2010, then we married in 2012."), "episodic")
    assert [(e.content, e.occurred_at.year) for e in events if e.occurred_at] == [
        ("Sam first met Anna.", 2010),
        ("Sam and others married.", 2012),
    ]


def test_a_fact_like_event_gives_both_the_event_and_the_fact():
    items = run("I moved to Berlin last year.")
    assert [x.memory_type for x in items] == ["semantic", "episodic"]
    assert slots(items) == [("lives_in", "berlin")]
    event = items[1]
    assert event.content == "Sam moved to Berlin."
    assert event.occurred_at == datetime(2023, 1, 1, tzinfo=UTC)


def test_without_a_timestamp_the_time_expression_stays_in_the_content():
    (event,) = run("Yesterday I went to the dentist.", ts=None)
    assert event.occurred_at is None
    assert event.content == "Sam went to the dentist."  # "yesterday" was before the subject
    (later,) = run("I went to the dentist yesterday.", ts=None)
    assert later.content == "Sam went to the dentist yesterday."
    assert later.occurred_at is None


def test_a_naive_timestamp_is_read_as_utc():
    (event,) = run("Yesterday I went to the dentist.", ts=datetime(2024, 5, 8, 1, 0))
    assert event.occurred_at == datetime(2024, 5, 7, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "Did I go to the dentist yesterday?",
        "If I went to Paris last year, I forgot.",
        "I didn't go to the gym yesterday.",
        "I never went to Rome.",
        "I've been to Rome.",
        "My sister went to Rome last week.",
        "Tomorrow I will visit Rome.",
        "I used to go there every day.",
        "I was born in 1990.",
    ],
)
def test_no_event_from_questions_negations_or_third_parties(text):
    assert of_type(run(text), "episodic") == []


# --- procedural -----------------------------------------------------------------------------


def test_a_numbered_list_is_a_guide_summarised_by_the_line_before():
    text = "Sure! Here's how to deploy:\n1. Run the tests\n2. Build the image\n3. Push it"
    (guide,) = of_type(run(text), "procedural")
    assert guide.fields == {
        "entry_type": "guide",
        "summary": "How to deploy",
        "steps": ["Run the tests", "Build the image", "Push it"],
    }
    assert guide.content == "How to deploy: (1) Run the tests; (2) Build the image; (3) Push it"
    assert guide.subject == "sam"
    assert_valid([guide])


def test_list_variants():
    steps = "To reset the router:\n\n- Unplug it\n- Wait 30 seconds\n\n- Plug it back in"
    (a,) = of_type(run(steps), "procedural")
    assert a.fields["steps"] == ["Unplug it", "Wait 30 seconds", "Plug it back in"]
    assert a.fields["summary"] == "To reset the router"
    nested = "Setup:\n1) Install **uv**\n   - on macOS use brew\n2) Run `uv sync`\n   then wait"
    (b,) = of_type(run(nested), "procedural")
    assert b.fields["steps"] == ["Install uv; on macOS use brew", "Run uv sync then wait"]
    words = "Step 1: open the app\nStep 2: tap Settings"
    (c,) = of_type(run(words), "procedural")
    assert c.fields["steps"] == ["open the app", "tap Settings"]
    assert c.fields["summary"] == "Open the app"  # no line before: the first step


def test_bullets_need_an_announcement_or_imperatives():
    assert of_type(run("Shopping:\n- apples\n- milk"), "procedural") == []
    assert of_type(run("Things I love:\n- tea\n- jazz"), "procedural") == []
    (a,) = of_type(run("Notes:\n- open the lid\n- pour the water"), "procedural")
    assert a.fields["steps"] == ["open the lid", "pour the water"]
    assert of_type(run("One step:\n1. just this"), "procedural") == []


def test_inline_first_then_finally():
    text = "To make tea, first boil water, then add the tea bag, finally wait 3 minutes."
    (guide,) = of_type(run(text), "procedural")
    assert guide.fields["summary"] == "To make tea"
    assert guide.fields["steps"] == ["boil water", "add the tea bag", "wait 3 minutes"]
    (b,) = of_type(
        run("First, open the settings. Then click on Privacy. Finally, turn off tracking."),
        "procedural",
    )
    assert b.fields["steps"] == ["open the settings", "click on Privacy", "turn off tracking"]


def test_a_story_is_not_a_procedure():
    assert of_type(run("So first I went home, then I slept."), "procedural") == []
    assert of_type(run("The first time I came, then left."), "procedural") == []
    assert of_type(run("First we visited Rome, then Milan."), "procedural") == []


def test_assistant_lists_and_links_are_kept_for_the_last_user():
    msgs = [
        user("How do I get a residence permit?", name="Sam"),
        Message(
            "assistant",
            "You live in Berlin! Here's how to get a permit:\n1. Book an appointment\n"
            "2. Bring your passport\nSee https://service.berlin.de/ for details.",
            timestamp=TS,
        ),
    ]
    items = extract(msgs)
    assert [(x.memory_type, x.message_index, x.subject) for x in items] == [
        ("procedural", 1, "sam"),
        ("resource", 1, "sam"),
    ]
    assert items[0].fields["summary"] == "How to get a permit"
    assert (
        items[1].content
        == "The assistant shared a link to service.berlin.de: https://service.berlin.de/"
    )
    assert_valid(items)


def test_assistant_messages_without_a_named_user():
    msgs = [Message("assistant", "Docs: https://docs.example.org/start")]
    (link,) = extract(msgs)
    assert link.subject == "user"
    assert link.fields["title"] == "Docs"
    (labelled,) = extract(msgs, user_label="Kim")
    assert labelled.subject == "kim"


# --- resources ------------------------------------------------------------------------------


def test_urls_become_link_resources():
    text = (
        "Here's the paper: https://arxiv.org/abs/2507.07957, and the [MIRIX repo]"
        "(https://github.com/Mirix-AI/MIRIX). Also https://www.example.com/a?b=1."
    )
    links = of_type(run(text), "resource")
    assert [(x.fields["uri"], x.fields["title"]) for x in links] == [
        ("https://arxiv.org/abs/2507.07957", "the paper"),
        ("https://github.com/Mirix-AI/MIRIX", "MIRIX repo"),
        ("https://www.example.com/a?b=1", "example.com"),
    ]
    assert all(x.fields["resource_type"] == "link" for x in links)
    assert links[0].content == "Sam shared a link to the paper: https://arxiv.org/abs/2507.07957"
    assert links[0].fields["summary"] == text
    assert_valid(links)


def test_urls_are_deduplicated_and_lose_their_credentials():
    links = of_type(
        run("https://bob:pw1@example.com/x then again https://bob:pw1@example.com/x"), "resource"
    )
    assert [x.fields["uri"] for x in links] == ["https://example.com/x"]
    assert of_type(run("example.com is not a link; neither is http://localhost"), "resource") == []


# --- knowledge vault ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "secret", "entry_type", "caption", "sensitivity"),
    [
        ("My password is hunter2.", "hunter2", "password", "Sam's password", "high"),
        ("the wifi password is: s3cret!Pass", "s3cret!Pass", "password", "Sam's wifi password",
         "high"),
        ("My bank password is 'correct horse battery'.", "correct horse battery", "password",
         "Sam's bank password", "high"),
        ("I changed my email password to Tr0ub4dor&3", "Tr0ub4dor&3", "password",
         "Sam's email password", "high"),
        ("The code is 1234.", "1234", "pin", "Sam's code", "medium"),
        ("my PIN is 4321", "4321", "pin", "Sam's PIN", "medium"),
        ("Our door code is 90210", "90210", "pin", "Sam's door code", "medium"),
        (f"my GitHub token is {GITHUB}", GITHUB, "token", "Sam's GitHub token", "high"),
        (f"my token is {GITHUB}", GITHUB, "token", "Sam's GitHub token", "high"),
        (f"use {GITHUB} for the CI", GITHUB, "token", "Sam's GitHub token", "high"),
        (f"OPENAI_API_KEY={OPENAI}", OPENAI, "api_key", "Sam's OpenAI API key", "high"),
        ("AWS key AKIAIOSFODNN7EXAMPLE ok", "AKIAIOSFODNN7EXAMPLE", "api_key",
         "Sam's AWS access key", "high"),
        ("DB_PASSWORD=pg-s3cret-99", "pg-s3cret-99", "password", "Sam's DB_PASSWORD", "high"),
        ("The Notion token is ntn_4f9a8b7c6d5e", "ntn_4f9a8b7c6d5e", "token",
         "Sam's Notion token", "high"),
        (f"here: {HEX}", HEX, "token", "Sam's token", "high"),
    ],
)  # fmt: skip
def test_secrets_go_to_the_vault(text, secret, entry_type, caption, sensitivity):
    items = run(text)
    assert_valid(items)
    (vault,) = of_type(items, "knowledge_vault")
    assert vault.secret == secret
    assert vault.content == vault.fields["caption"] == caption
    assert vault.fields["entry_type"] == entry_type
    assert vault.fields["sensitivity"] == sensitivity
    assert vault.fields["source"] == "sam on 2024-05-08"
    assert vault.subject == "sam"
    assert vault.attribute is not None and vault.attribute.startswith("secret:")
    assert vault.value is None
    assert vault.occurred_at == TS


def test_secrets_never_leak_into_any_other_field_or_extraction():
    msgs = [
        user(
            f"My password is hunter22 and my GitHub token is {GITHUB}. I live in Berlin.\n"
            f"Setup:\n1. export OPENAI_API_KEY={OPENAI}\n2. run the app with hunter22\n"
            f"See https://api.github.com/?access_token={GITHUB} for the API. "
            "Yesterday I typed hunter22 into the form."
        ),
        Message("assistant", f"Saved {GITHUB}. To log in:\n1. type hunter22\n2. press enter"),
        user(f"My wifi password is hunter22x and I love {GITHUB}"),
    ]
    items = extract(msgs)
    assert_valid(items)
    secrets = {x.secret for x in items if x.secret}
    assert secrets == {"hunter22", GITHUB, OPENAI, "hunter22x"}
    for x in items:
        visible = [x.content, x.subject, x.attribute or "", x.value or ""]
        visible += [str(v) for v in x.fields.values()]
        for secret in secrets:
            assert all(secret not in v for v in visible), (x, secret)
    assert {x.memory_type for x in items} == {
        "knowledge_vault",
        "semantic",
        "procedural",
        "resource",
        "episodic",
    }
    (guide, *_) = of_type(items, "procedural")
    assert guide.fields["steps"] == [
        f"export OPENAI_API_KEY={REDACTED}",
        f"run the app with {REDACTED}",
    ]
    assert not any(x.attribute and REDACTED in x.attribute for x in items)


def test_a_secret_equal_to_its_label_gets_a_generic_caption():
    (vault,) = of_type(run("My wifi password is wifi1"), "knowledge_vault")
    assert vault.content == "Sam's wifi password"
    (same,) = of_type(run("my wifi password is wifi"), "knowledge_vault")
    assert same.secret == "wifi"
    assert same.content == "Sam's password"
    assert "wifi" not in (same.attribute or "")
    (pin,) = of_type(run("my pin is 2024"), "knowledge_vault")
    assert pin.fields["source"] == "conversation"  # "sam on 2024-05-08" would show it


def test_a_secret_equal_to_the_speaker_is_dropped():
    assert (
        of_type(extract([user("my password is samuel")], user_label="Samuel"), "knowledge_vault")
        == []
    )


def test_assistant_secrets_are_redacted_but_not_stored():
    items = extract(
        [Message("assistant", f"Your key {OPENAI} works. https://x.org/?token={OPENAI}")]
    )
    assert of_type(items, "knowledge_vault") == []
    (link,) = items
    assert OPENAI not in link.fields["summary"] and REDACTED in link.fields["summary"]


def test_ordinary_text_is_not_a_secret():
    for text in [
        "My internationalization2024 notes.",
        "Order 12345678901234567890 shipped.",
        "See src/memsvc/algorithms/message_extract.py",
        "id 123e4567-e89b-12d3-a456-426614174000",
        "Keynote: https://example.com/keynote2024abcdef",
        "My password is something I forgot.",
        "The secret is patience.",
    ]:
        assert of_type(run(text), "knowledge_vault") == [], text


# --- the whole conversation ----------------------------------------------------------------


def test_extractions_keep_message_order_and_indexes():
    msgs = [
        user("Hi! I live in Paris."),
        Message("assistant", "Nice! What do you do?"),
        user("I'm a chef. Yesterday I went to Lyon."),
        user("I moved to Berlin."),
    ]
    items = extract(msgs)
    assert [(x.message_index, x.memory_type, x.attribute) for x in items] == [
        (0, "semantic", "lives_in"),
        (2, "semantic", "job"),
        (2, "episodic", None),
        (3, "semantic", "lives_in"),
        (3, "episodic", None),
    ]
    assert [x.value for x in items if x.attribute == "lives_in"] == ["paris", "berlin"]


def test_identical_extractions_are_deduplicated_within_a_message():
    items = extract([user("I like tea. I like tea!"), user("I like tea."), user("I love tea.")])
    assert [(x.content, x.message_index) for x in items] == [
        ("Sam likes tea.", 0),
        ("Sam likes tea.", 1),
        ("Sam loves tea.", 2),
    ]


def test_extraction_is_deterministic_and_empty_input_is_fine():
    msgs = [user("I live in Rome. Yesterday I went to the dentist. My password is hunter22.")]
    assert extract(msgs) == extract(msgs)
    assert extract([]) == []
    assert extract([user("")]) == []
    assert extract([user("   \n ")]) == []


def test_every_fields_dict_is_valid_for_its_schema():
    msgs = [
        user(
            "I'm Sam's friend. I live in Berlin and work at Acme. My dog Max is 3. "
            "Last week we hiked in the Alps. My password is p4ssw0rd! Here's how to bake bread:\n"
            "1. Mix flour and water\n2. Knead\n3. Bake\nRecipe: https://bread.example/x"
        ),
        Message("assistant", "Great. First preheat the oven, then bake for 30 minutes."),
    ]
    items = extract(msgs)
    assert {x.memory_type for x in items} == {
        "semantic",
        "episodic",
        "procedural",
        "resource",
        "knowledge_vault",
    }
    assert_valid(items)


def test_long_values_are_skipped_and_long_fields_are_cut():
    long_place = " ".join(["Very"] * 10)
    assert slots(run(f"I live in {long_place}.")) == []
    items = run("Steps:\n" + "\n".join(f"{i}. do thing {i}" for i in range(1, 601)))
    (guide,) = of_type(items, "procedural")
    assert len(guide.fields["steps"]) == 500
    assert_valid(items)


def test_slots_drive_the_update_rules():
    from memsvc.algorithms.update_decision import Decision, Fact, Neighbour, decide

    def fact(x: Extracted) -> Fact:
        return Fact(x.content, x.subject, x.memory_type, x.attribute, x.value)

    (paris,) = run("I live in Paris.")
    (berlin, _moved) = run("I just moved to Berlin!")
    (likes,) = run("I love coffee.")
    (dislikes,) = run("I don't like coffee anymore.")
    old = [Neighbour("p", fact(paris), 0.7), Neighbour("c", fact(likes), 0.6)]
    assert decide(fact(berlin), old).decision is Decision.SUPERSEDE
    assert decide(fact(dislikes), old).target == "c"
    assert decide(fact(dislikes), old).decision is Decision.SUPERSEDE
