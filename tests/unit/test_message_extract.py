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
    assert slots(run("I've been working at IBM for 3 years.")) == [("works_at", "ibm")]
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


# --- the same slots in other words ----------------------------------------------------------


def slot_of(text: str, attribute: str) -> list[str | None]:
    """The values ``text`` gives ``attribute``."""
    return [v for a, v in slots(run(text)) if a == attribute]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        # perfect tenses (a duration makes "I've lived in" current)
        ("I've been living in Porto since university.", "porto"),
        ("I have been living in New York for two years now.", "new york"),
        ("I've lived in Oslo for about five years.", "oslo"),
        ("I've lived in Oslo all my life.", "oslo"),
        ("I've been based in Copenhagen since 2020.", "copenhagen"),
        ("I've been in Helsinki for three years.", "helsinki"),
        # settling, making a home
        ("I've settled in Prague now and I really like the neighbourhood.", "prague"),
        ("I settled down in Warsaw last year.", "warsaw"),
        ("I now call Stockholm home.", "stockholm"),
        ("I've made Seattle my home.", "seattle"),
        # "home"
        ("Home is Madrid for me, right by the river.", "madrid"),
        ("Home these days is Vienna.", "vienna"),
        ("My home is in Leeds now.", "leeds"),
        ("My new address is in Rotterdam.", "rotterdam"),
        ("Vienna is home now.", "vienna"),
        ("Vienna has been home for ten years.", "vienna"),
        ("Porto is my home now.", "porto"),
        ("Berlin is where I live now.", "berlin"),
        # relative clauses and appositions after the place
        ("Greetings from Lisbon, where I've lived for about five years.", "lisbon"),
        ("Hello from Buenos Aires, where I live with my wife.", "buenos aires"),
        ("I'm writing from Hamburg, where I live now.", "hamburg"),
        ("Greetings from sunny Barcelona, my new home!", "barcelona"),
        # the new flat
        ("Writing to you from my new flat in Dublin!", "dublin"),
        ("We just got the keys to our new house in Bristol.", "bristol"),
        ("I've just moved into a flat in Osaka.", "osaka"),
        ("I'm renting a flat in Glasgow.", "glasgow"),
        # "I'm in X" with now / these days, no trip in sight
        ("I'm now in Sydney.", "sydney"),
        ("I'm in Melbourne now.", "melbourne"),
        ("I'm in Cape Town these days.", "cape town"),
        # the household: "we" (capitalised places only)
        ("We moved to Denver last spring.", "denver"),
        ("We live in Boston.", "boston"),
        ("We've been living in Chicago for a while.", "chicago"),
        ("We're living in Athens now.", "athens"),
        # a subject left out
        ("Just moved to Munich!", "munich"),
        ("Living in Seville at the moment.", "seville"),
        ("Based in Lisbon, working for Contoso.", "lisbon"),
        ("I sold my car and moved to Berlin.", "berlin"),
    ],
)
def test_lives_in_in_other_words(text, value):
    assert slot_of(text, "lives_in") == [value], slots(run(text))
    fact = next(f for f in of_type(run(text), "semantic") if f.attribute == "lives_in")
    assert fact.content.startswith("Sam lives in ")
    assert_valid([fact])


@pytest.mark.parametrize(
    "text",
    [
        # greetings alone: a trip as often as a home
        "Greetings from Bali!",
        "Hello from Milan!",
        # "I'm in X": not a place, or a trip, or only right now
        "I'm in a meeting now.",
        "I'm in trouble now.",
        "I'm in love now.",
        "I'm in IT now.",
        "I'm in Marketing now.",
        "I'm in Year 10 now.",
        "I'm in Paris now for a conference.",
        "I'm in New York now for a week.",
        "I'm in Berlin right now.",
        "I'm in Rome this week.",
        "I'm in Rome now and flying back tomorrow.",
        "I'm in Paris.",
        # past, experience or short stays
        "I've lived in Paris and Rome.",
        "I've lived in Paris before.",
        "I've been living in Paris until recently.",
        "I lived in Paris until 2019.",
        "I've been in London twice.",
        "I've been in Paris for 3 days.",
        "Berlin, where I lived as a student, is great.",
        "Berlin, where my sister lives, is great.",
        "Paris is where I grew up.",
        "I used to call Rome home.",
        # not a home
        "Home is where the heart is.",
        "Home is a small flat.",
        "Berlin is home to many artists.",
        "Berlin is home for my parents.",
        "Rome is my second home.",
        "Paris is my hometown.",
        "My home is a mess.",
        "Honestly, where I live it's cold.",
        "Living in Berlin must be expensive.",
        "Living in fear of the exam.",
        "Settled in nicely, thanks!",
        "I settled in well.",
        # a flat that is not the home
        "I'm selling my new flat in Leeds.",
        "My holiday flat in Spain is lovely.",
        "My sister's new flat in Leeds is nice.",
        # "we" that is no household, or no place
        "We're based in London.",
        "We moved to Kubernetes last year.",
        "We moved to Slack.",
        "We live in interesting times.",
        "We live in a society.",
        # third parties, questions, plans
        "My sister has been living in Rome for years.",
        "I think my sister left Paris and moved to Rome.",
        "Have you been living in Berlin long?",
        "Is home Berlin for you?",
        "If we moved to Denver, I'd be happy.",
        "I'll be living in Oslo next year.",
    ],
)
def test_lives_in_limits(text):
    assert slot_of(text, "lives_in") == [], slots(run(text))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("My employer is Initech, it's a decent place.", "initech"),
        ("My new employer is Globex.", "globex"),
        ("Hooli is my employer now.", "hooli"),
        ("My new company is Aperture Science.", "aperture science"),
        ("Cyberdyne Systems is where I work now.", "cyberdyne systems"),
        # perfect tenses
        ("I've been working at IBM for 3 years.", "ibm"),
        ("I've been at Contoso for three years now.", "contoso"),
        ("I've been at Fabrikam since 2019.", "fabrikam"),
        # joining
        ("I joined Umbrella Corporation.", "umbrella corporation"),
        ("I just joined Pied Piper last week, new job!", "pied piper"),
        ("I recently joined Stripe as a designer.", "stripe"),
        ("I left Hooli and joined Globex.", "globex"),
        ("I just joined Gekko and Co, new job!", "gekko and co"),
        # "I'm at X" with a job in the sentence or an organisation's name
        ("I'm at Oscorp now, I switched jobs in the spring.", "oscorp"),
        ("I got a new job, I'm at Initech now.", "initech"),
        ("I'm at Wayne Enterprises now.", "wayne enterprises"),
        ("I switched to Soylent, new job and all.", "soylent"),
        # hired, offers, roles
        ("I got hired by Summit Bank.", "summit bank"),
        ("I was hired at Evergreen Health last month.", "evergreen health"),
        ("Lumen Analytics hired me in March.", "lumen analytics"),
        ("I accepted a job at Redwood Software.", "redwood software"),
        ("I landed a new role at Silverline Media.", "silverline media"),
        ("I took a position with Harbor Logistics.", "harbor logistics"),
        ("I just accepted an offer from Pied Piper.", "pied piper"),
        ("My new job is at Tyrell Corporation.", "tyrell corporation"),
        ("I've started working for Dunder Mifflin.", "dunder mifflin"),
        # "now", a subject left out, "and" continuing an "I" clause
        ("I now work at Atlas Freight.", "atlas freight"),
        ("I quit my job at Initech and now work at Fabrikam.", "fabrikam"),
        ("I handed in my notice and now I'm working at Massive Dynamic.", "massive dynamic"),
        ("Got hired at Bluth Company last month.", "bluth company"),
        ("Started at Oscorp on Monday.", "oscorp"),
    ],
)
def test_works_at_in_other_words(text, value):
    assert slot_of(text, "works_at") == [value], slots(run(text))
    assert_valid(run(text))


@pytest.mark.parametrize(
    "text",
    [
        # "I'm at X": a place of the day, or no sign of a job
        "I'm at home now.",
        "I'm at the gym.",
        "I'm at work now.",
        "I'm at Starbucks now.",
        "I'm at Google now.",
        "I'm at Google now for an interview.",
        "I'm at Heathrow now, flying to my new job.",
        "I'm working at the weekend.",
        "I'm working at the moment.",
        "I'm with Sterling Cooper now, new role.",
        "I work for myself now.",
        # joining something that is no employer
        "I joined Twitter.",
        "I joined Reddit in 2015.",
        "I joined a gym.",
        "I've joined the gym.",
        "I joined the call late.",
        "I joined Anna for lunch.",
        "I joined Anna and Tom at the pub.",
        "I switched to Linux.",
        "I switched to oat milk.",
        # short stays, past jobs, turned down, plans
        "I've been at Heathrow for 3 hours.",
        "I've been at Tesco for 20 minutes.",
        "I used to be at Google.",
        "I was at Google for ten years.",
        "I was hired by Google but turned it down.",
        "Google hired me in 2010 and fired me in 2012.",
        "I've been working at IBM until last month.",
        "I will be joining Globex next month.",
        "I'm going to join Hooli.",
        "I'd join Hooli if they asked.",
        # third parties, questions
        "My sister joined Globex.",
        "My sister left Google and joined Meta.",
        "Have you been at Google long?",
    ],
)
def test_works_at_limits(text):
    assert slot_of(text, "works_at") == [], slots(run(text))


@pytest.mark.parametrize(
    ("text", "attribute", "value"),
    [
        ("We renamed our dog to Biscuit.", "name_of:dog", "biscuit"),
        ("I renamed my cat Mochi.", "name_of:cat", "mochi"),
        ("We renamed the rabbit from Loki to Juno.", "name_of:rabbit", "juno"),
        ("We started calling the dog Pickles instead.", "name_of:dog", "pickles"),
        ("We ended up naming the puppy Marble.", "name_of:puppy", "marble"),
        ("We call our parrot Kiwi.", "name_of:parrot", "kiwi"),
        ("I changed my cat's name to Oreo.", "name_of:cat", "oreo"),
        ("We changed our tortoise's name to Pixel.", "name_of:tortoise", "pixel"),
        ("My rabbit goes by Sprout now.", "name_of:rabbit", "sprout"),
        ("My hamster answers to Gizmo.", "name_of:hamster", "gizmo"),
        ("My dog's name is Rocky now.", "name_of:dog", "rocky"),
        ("My dog's called Juno now.", "name_of:dog", "juno"),
        ("My dog is now called Simba.", "name_of:dog", "simba"),
        ("My cat has been renamed Nala.", "name_of:cat", "nala"),
        ("My cat's new name is Winston.", "name_of:cat", "winston"),
        ("My guinea pig is called Mr Pickles these days.", "name_of:guinea pig", "mr pickles"),
        # "our" pets, appositions
        ("Our dog Max keeps stealing socks.", "name_of:dog", "max"),
        ("Our cat, Luna, is asleep.", "name_of:cat", "luna"),
        ("Our parrot is called Coco.", "name_of:parrot", "coco"),
        ("Waffles, my dog, is asleep on my feet right now.", "name_of:dog", "waffles"),
        ("Meet Teddy, my new puppy!", "name_of:puppy", "teddy"),
        ("Anna, my sister, lives in Rome.", "name_of:sister", "anna"),
        # "named it X" / "her name is X" after a pet of the speaker's
        ("I adopted a rabbit a while ago and named it Bandit.", "name_of:rabbit", "bandit"),
        ("We got a kitten last week and named her Smokey.", "name_of:kitten", "smokey"),
        ("I have a new puppy, her name is Pumpkin.", "name_of:puppy", "pumpkin"),
        ("We have a cat and his name is Marble.", "name_of:cat", "marble"),
        ("We got a hamster called Ziggy.", "name_of:hamster", "ziggy"),
    ],
)
def test_pet_names_in_other_words(text, attribute, value):
    assert slot_of(text, attribute) == [value], slots(run(text))
    fact = next(f for f in of_type(run(text), "semantic") if f.attribute == attribute)
    assert fact.content == f"Sam's {attribute.partition(':')[2]} is called {value.title()}."


@pytest.mark.parametrize(
    "text",
    [
        "My sister renamed her dog Rex.",
        "My sister got a dog and named it Rex.",
        "My sister has a dog and his name is Rex.",
        "My friend named her dog Rex.",
        "I met a dog and its name was Rex.",
        "I saw a cat, its name is Tom.",
        "My sister's dog is called Rex.",
        "I used to call my dog Rex.",
        "My dog was called Rex.",
        "The dog's name is Rex.",
        "I renamed the file to Report.",
        "I named the project Apollo.",
        "Would you rename your dog Max?",
        "If we renamed the dog to Max, would he notice?",
        "Sorry, my dog ate it.",
        "Finally, my dog is asleep.",
        "We started calling the dog a good boy.",
    ],
)
def test_pet_name_limits(text):
    assert [a for a, _ in slots(run(text)) if a and a.startswith("name_of:")] == [], slots(
        run(text)
    )


@pytest.mark.parametrize(
    ("text", "attribute", "value"),
    [
        ("Blue is my new favourite colour.", "favourite:colour", "blue"),
        ("Green has become my favourite colour.", "favourite:colour", "green"),
        ("Lately pizza has become my favourite food.", "favourite:food", "pizza"),
        ("Honestly tacos are my new favourite food.", "favourite:food", "tacos"),
        ("Coral is by far my favourite colour.", "favourite:colour", "coral"),
        ("Navy has always been my favourite colour.", "favourite:colour", "navy"),
        ("Grey's my favourite colour.", "favourite:colour", "grey"),
        ("I think lasagne is my favourite food.", "favourite:food", "lasagne"),
        ("I'd say ramen is my favourite food, always has been.", "favourite:food", "ramen"),
        ("Nothing beats sushi, it's my favourite food by far.", "favourite:food", "sushi"),
        ("My favourite colour has changed, it's teal now.", "favourite:colour", "teal"),
        ("My favourite colour used to be red, but it's green now.", "favourite:colour", "green"),
        ("My favourite food at the moment is paella.", "favourite:food", "paella"),
        ("These days my favourite food is curry.", "favourite:food", "curry"),
        ("My fave food is dim sum.", "favourite:food", "dim sum"),
        ("Sushi is my favourite thing to eat.", "favourite:food", "sushi"),
        ("My favourite kind of music is jazz.", "favourite:music", "jazz"),
        # one slot whatever the spelling or number
        ("My favorite color is now purple.", "favourite:colour", "purple"),
        ("My all-time favorite color is beige.", "favourite:colour", "beige"),
        ("My favourite flavor is vanilla.", "favourite:flavour", "vanilla"),
        ("My favourite colours are blue and green.", "favourite:colour", "blue and green"),
        ("My favourite movies are the Alien films.", "favourite:movie", "alien films"),
    ],
)
def test_favourites_in_other_words(text, attribute, value):
    assert slot_of(text, attribute) == [value], slots(run(text))


def test_favourite_spellings_give_one_slot_and_a_uk_content():
    (fact,) = of_type(run("My favorite color is red."), "semantic")
    assert (fact.attribute, fact.content) == ("favourite:colour", "Sam's favourite colour is red.")
    (plural,) = of_type(run("My favorite colors are blue and green."), "semantic")
    assert plural.content == "Sam's favourite colours are blue and green."
    (food,) = of_type(run("Tacos are my favourite food."), "semantic")
    assert food.content == "Sam's favourite food is Tacos."


@pytest.mark.parametrize(
    "text",
    [
        "Pizza is her favourite food.",
        "My sister thinks pizza is my favourite food.",
        "Everyone knows pizza is my favourite food.",
        "Pizza used to be my favourite food.",
        "Pizza was my favourite food.",
        "Red is not my favourite colour.",
        "Red is my least favourite colour.",
        "Green is my second favourite colour.",
        "It's my favourite colour.",
        "Honestly, it's my favourite.",
        "If blue is my favourite colour, why do I wear red?",
        "Blue has become my favourite colour?",
        # "would be" only after "if I had to pick": else a condition
        "My favourite colour would be red if I were braver.",
        "If I lived in Rome my favourite food would be pasta.",
    ],
)
def test_favourite_limits(text):
    assert [a for a, _ in slots(run(text)) if a and a.startswith("favourite:")] == [], slots(
        run(text)
    )


@pytest.mark.parametrize(
    ("text", "key", "value", "content"),
    [
        ("Honestly I've gone off coffee.", "coffee", "no", "Sam has gone off coffee."),
        ("I've gone right off burgers.", "burgers", "no", None),
        ("Tea just doesn't agree with me any more.", "tea", "no",
         "Tea just doesn't agree with Sam."),
        ("Spicy food doesn't agree with me.", "spicy food", "no", None),
        ("Dairy doesn't agree with me.", "dairy", "no", None),
        ("Honestly, coffee doesn't agree with me.", "coffee", "no", None),
        ("Kombucha has never been my thing.", "kombucha", "no",
         "Kombucha has never been Sam's thing."),
        ("Cider isn't really my thing.", "cider", "no", None),
        ("Opera is not my cup of tea.", "opera", "no", None),
        ("Oysters are just not for me.", "oysters", "no", None),
        ("Beer is my thing, I have it almost every day.", "beer", "yes", "Beer is Sam's thing."),
        ("Whisky is really my thing.", "whisky", "yes", None),
        ("Whisky's really grown on me.", "whisky", "yes", None),
        ("Cheesecake has grown on me.", "cheesecake", "yes", "Cheesecake has grown on Sam."),
        ("I've come round to olives, I really enjoy it now.", "olives", "yes",
         "Sam has come round to olives."),
        ("I've come around to mushrooms.", "mushrooms", "yes", None),
        ("I've really warmed to mushrooms.", "mushrooms", "yes", None),
        ("I'm not into tofu any more.", "tofu", "no", "Sam is not into tofu."),
        ("I'm no longer into hummus.", "hummus", "no", None),
        ("I'm not keen on goulash.", "goulash", "no", None),
        ("I've started liking avocado.", "avocado", "yes", "Sam has started liking avocado."),
        ("I've started to like kimchi.", "kimchi", "yes", None),
        ("I'm really starting to like tofu.", "tofu", "yes", None),
        ("I've started to hate cider.", "cider", "no", None),
        ("I've grown to love oysters.", "oysters", "yes", "Sam has grown to love oysters."),
        ("I've come to love porridge.", "porridge", "yes", None),
        ("I can't get enough of dumplings.", "dumplings", "yes",
         "Sam can't get enough of dumplings."),
        ("I'm so over burgers.", "burgers", "no", "Sam is so over burgers."),
        ("I'm sick of spaghetti.", "spaghetti", "no", None),
        ("I'm obsessed with pho.", "pho", "yes", None),
        ("I'm fond of risotto.", "risotto", "yes", None),
        ("I've fallen in love with falafel.", "falafel", "yes", None),
        ("I've been really into yoga lately.", "yoga", "yes", None),
        ("I'm loving croissants.", "croissants", "yes", None),
        ("I'm a huge espresso fan.", "espresso", "yes", "Sam is a fan of espresso."),
        ("I'm not a coffee fan.", "coffee", "no", None),
        ("Nothing beats lemonade.", "lemonade", "yes", "For Sam, nothing beats lemonade."),
        # fillers after the object
        ("I'm really into porridge lately.", "porridge", "yes", None),
        ("Turns out I'm a fan of espresso after all.", "espresso", "yes", None),
        ("I don't like coffee as much any more.", "coffee", "no", None),
        ("I actually like steak these days.", "steak", "yes", None),
        ("I love getting to know people.", "getting to know people", "yes", None),
    ],
)  # fmt: skip
def test_preferences_in_other_words(text, key, value, content):
    assert slot_of(text, f"likes:{key}") == [value], slots(run(text))
    fact = next(f for f in of_type(run(text), "semantic") if f.attribute == f"likes:{key}")
    if content is not None:
        assert fact.content == content
    assert_valid([fact])


@pytest.mark.parametrize(
    "text",
    [
        "I'm over the moon.",
        "I'm so over the moon about it.",
        "I'm over there.",
        "I'm over 30.",
        "I went off to Paris.",
        "I went off on a tangent.",
        "I've gone off the deep end.",
        "My sister has gone off coffee.",
        "Coffee doesn't agree with my sister.",
        "My boss doesn't agree with me.",
        "Honestly, Tom doesn't agree with me.",
        "I told her that Tom Smith doesn't agree with me.",
        "Sarah doesn't agree with me about the budget.",
        "The dog doesn't agree with me.",
        "The parcel isn't for me.",
        "That's not my thing.",
        "It has grown on me.",
        "Nothing beats this.",
        "Is coffee your thing?",
        "I used to love coffee.",
        "I love making this.",
        "I'd come round to coffee if it were cheaper.",
        "I'm sick.",
        "I'm a big fan.",
    ],
)
def test_preference_limits(text):
    assert [a for a, _ in slots(run(text)) if a and a.startswith("likes:")] == [], slots(run(text))


@pytest.mark.parametrize(
    ("text", "slot"),
    [
        ("I'd say blue is my favourite colour.", ("favourite:colour", "blue")),
        ("To be honest, blue is my favourite colour.", ("favourite:colour", "blue")),
        ("If I'm honest, blue is my favourite colour.", ("favourite:colour", "blue")),
        ("My favourite colour is probably blue.", ("favourite:colour", "blue")),
        ("My favourite colour is blue after all.", ("favourite:colour", "blue")),
        ("My favourite colour is blue and always has been.", ("favourite:colour", "blue")),
        ("I live in Oslo for now.", ("lives_in", "oslo")),
        ("I moved to Oslo recently.", ("lives_in", "oslo")),
        ("I like tea instead.", ("likes:tea", "yes")),
        ("I like tea these days.", ("likes:tea", "yes")),
        ("I don't like tea at all.", ("likes:tea", "no")),
        ("I work at Acme for the time being.", ("works_at", "acme")),
        ("We call the dog Pickles instead.", ("name_of:dog", "pickles")),
    ],
)
def test_hedges_and_fillers_are_no_part_of_a_value(text, slot):
    assert slots(run(text)) == [slot]


def test_used_to_blocks_only_its_own_clause():
    assert slots(run("I used to call my dog Rex.")) == []
    assert slots(run("I used to live in Paris, but now I live in Berlin.")) == [
        ("lives_in", "berlin")
    ]
    assert slots(run("I used to hate olives but I've come round to them.")) == []
    assert slots(run("I used to hate olives but I've come round to olives.")) == [
        ("likes:olives", "yes")
    ]


def test_a_left_out_subject_is_the_speaker():
    assert slots(run("Just moved to Munich!")) == [("lives_in", "munich")]
    assert slots(run("I live in Zurich and work at Google.")) == [
        ("lives_in", "zurich"),
        ("works_at", "google"),
    ]
    # not when another subject sits in between, or the words start no statement
    assert slots(run("I think my sister left Paris and moved to Rome.")) == []
    assert slots(run("My sister moved to Rome and joined Ferrari.")) == []
    assert slots(run("Working at the weekend again.")) == []
    assert slots(run("Moved the meeting to Friday.")) == []


@pytest.mark.parametrize(
    ("old", "new", "attribute"),
    [
        ("I've been living in Lisbon since university.", "We moved to Porto last spring.",
         "lives_in"),
        ("Home is Lisbon for me.", "I've settled in Porto now.", "lives_in"),
        ("My employer is Initech.", "I just joined Globex last week, new job!", "works_at"),
        ("I've been at Initech for three years.", "I'm at Globex now, I switched jobs.",
         "works_at"),
        ("Rex, my dog, is asleep.", "We renamed our dog to Max.", "name_of:dog"),
        ("I adopted a dog and named it Rex.", "My dog goes by Max now.", "name_of:dog"),
        ("My favorite color is red.", "Blue is my new favourite colour.", "favourite:colour"),
        ("I'd say red is my favourite colour.", "My favourite colour has changed, it's blue now.",
         "favourite:colour"),
        ("Coffee is my thing.", "Honestly I've gone off coffee.", "likes:coffee"),
        ("Coffee has never been my thing.", "I've come round to coffee.", "likes:coffee"),
    ],
)  # fmt: skip
def test_old_and_new_phrasings_fill_the_same_slot_and_supersede(old, new, attribute):
    from memsvc.algorithms.update_decision import Decision, Fact, Neighbour, decide

    (before,) = [f for f in of_type(run(old), "semantic") if f.attribute == attribute]
    (after,) = [f for f in of_type(run(new), "semantic") if f.attribute == attribute]
    assert before.value != after.value

    def fact(x: Extracted) -> Fact:
        return Fact(x.content, x.subject, x.memory_type, x.attribute, x.value)

    verdict = decide(fact(after), [Neighbour("old", fact(before), 0.5)])
    assert verdict.decision is Decision.SUPERSEDE


# --- more constructions: appositions, headlines, renamings, old and new values --------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        # stayed where they were born
        ("born and raised in Osaka and still here lol", "osaka"),
        ("Born and bred in Leeds, still live here.", "leeds"),
        ("I was born and raised in Porto and I'm still here.", "porto"),
        ("Grew up in Cork and never left lol", "cork"),
        # a home of the household's, or "my place in X" as a subject
        ("we've got a flat in Melbourne, near the station", "melbourne"),
        ("We have a little house in Ghent, five minutes from the canal.", "ghent"),
        ("I've got an apartment in Lyon near the river.", "lyon"),
        ("my place in Mexico City is tiny but the rent is ok", "mexico city"),
        ("My apartment in Seoul is so small lol", "seoul"),
        ("our house in Utrecht has a garden", "utrecht"),
        ("New flat in Dublin is great.", "dublin"),
        # "I'm in X" given as background, "we're in X now", "currently"
        ("so I'm in Madrid, if that matters for the recommendations", "madrid"),
        ("I'm in Toronto btw, for context.", "toronto"),
        ("I'm in Perth, so the time zone is weird for you.", "perth"),
        ("we packed up and left Melbourne, we're in Budapest now", "budapest"),
        ("We're in Valencia these days.", "valencia"),
        ("I'm currently in Madrid.", "madrid"),
        # moving from A to B: B
        ("Moved from Rotterdam to Tokyo last week, the neighbourhood is lovely", "tokyo"),
        ("Relocated from Oslo to Bergen in March.", "bergen"),
        ("I moved to Tokyo from Rotterdam.", "tokyo"),
        ("We moved from London to Berlin to be near my sister.", "berlin"),
        ("We finally made the move to Porto.", "porto"),
        ("Since moving to Oslo I've been cycling more.", "oslo"),
        # identity with a place
        ("I'm a Rotterdam girl through and through", "rotterdam"),
        ("I'm a Glasgow lad through and through.", "glasgow"),
        ("I'm a proud Leeds local.", "leeds"),
        ("I'm a Lisbon-based designer.", "lisbon"),
        ("I'm Berlin-based.", "berlin"),
        # headlines
        ("new city new me: Lisbon 🎉", "lisbon"),
        ("new home: Hamburg!", "hamburg"),
        ("New city, new life: Auckland", "auckland"),
        # emoji are no part of a place
        ("I live in Lisbon 🎉", "lisbon"),
    ],
)
def test_lives_in_in_more_words(text, value):
    assert slot_of(text, "lives_in") == [value], slots(run(text))
    assert_valid(run(text))


@pytest.mark.parametrize(
    "text",
    [
        # trips, holiday homes, homes of others, the past
        "I'm in Paris for the weekend, if that matters.",
        "I'm in Tokyo next week, if that helps.",
        "FYI I'm in Paris.",
        "We have a flat in Rome for the holidays.",
        "We rent a flat in Rome for the summer.",
        "We also have a flat in Rome.",
        "We've got a flat in Rome too.",
        "We've got a flat in Rome that we rent out.",
        "We got a flat in Rome for the week.",
        "My parents have a house in Spain.",
        "My sister's place in Rome is tiny.",
        "My flat in Paris was lovely.",
        "My house in Leeds is for sale.",
        "I miss my flat in Paris.",
        "The new house in Bristol we viewed was lovely.",
        "New flat in Dublin for my sister is great.",
        "We're in Rome now for the wedding.",
        "We're in Rome this week.",
        "We're in trouble now.",
        "I'm currently in a meeting.",
        "I'm currently in Rome for work.",
        # born there, but gone or a third party's
        "Born and raised in Osaka, but I left years ago.",
        "My sister was born and raised in Osaka and still lives there.",
        "I grew up in Leeds and never left the house that day.",
        # "X girl" with no "through and through", a brand, or "at heart"
        "I'm a Paris girl at heart.",
        "I'm a Marvel girl through and through.",
        "I'm a Nike guy through and through.",
        # a move of something else, a third party's move, a plan
        "My sister moved from Paris to Rome.",
        "We moved from Slack to Teams.",
        "I moved from marketing to sales.",
        "After moving to Oslo next year I'll buy a boat.",
        "Since my sister moved to Oslo I visit a lot.",
        # an organisation is no place
        "I've moved over to Evergreen Health.",
        "Do you have a flat in Rome?",
        "If we had a flat in Rome, I'd visit more.",
    ],
)
def test_lives_in_more_limits(text):
    assert slot_of(text, "lives_in") == [], slots(run(text))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        # "I'm at X" with years there, "now at X", a job word in another sentence
        ("i'm at Globex, been there about three years", "globex"),
        ("I switched jobs in the spring, now at Lumen Analytics", "lumen analytics"),
        ("Switched companies, now at Fabrikam.", "fabrikam"),
        ("new job! i'm at Soylent as of this week", "soylent"),
        ("Got hired! I'm at Initech as of Monday.", "initech"),
        # "<job> with X"
        ("I'm a software engineer with Soylent", "soylent"),
        ("I'm a data scientist with Contoso.", "contoso"),
        # work mentioned with its place
        ("work's been hectic at Northwind Traders lately", "northwind traders"),
        ("Work has been crazy busy at Globex this month.", "globex"),
        ("long day at Pied Piper today, the usual", "pied piper"),
        ("Another hectic shift at Summit Bank.", "summit bank"),
        ("My manager at Initech is great.", "initech"),
        ("our team at Fabrikam is growing", "fabrikam"),
        ("my colleagues at Hooli are lovely", "hooli"),
        ("i do data analysis for Fabrikam", "fabrikam"),
        ("I do backend work for Initech.", "initech"),
        ("I work in sales at Globex.", "globex"),
        ("I work on the payments team at Hooli.", "hooli"),
        ("I'm on the design team at Initech.", "initech"),
        ("I've worked at Fabrikam since 2019.", "fabrikam"),
        ("My company, Globex, is hiring.", "globex"),
        ("I'm officially a Globex employee!", "globex"),
        # starting there (a job word or an organisation's name)
        ("handed in my notice, starting at Evergreen Health on monday", "evergreen health"),
        ("Resigned last week, I'm starting at Hooli next month.", "hooli"),
        ("I start at Globex on Monday, new job!", "globex"),
        # moves and switches to an employer
        ("Quick update: I've moved over to Evergreen Health", "evergreen health"),
        ("I changed jobs from Initech to Globex.", "globex"),
        ("I left Initech for Vandelay Industries.", "vandelay industries"),
        # headlines
        ("new job: Contoso", "contoso"),
        ("Quick update - new job at Globex", "globex"),
        ("New job at Pied Piper starts Monday!", "pied piper"),
    ],
)
def test_works_at_in_more_words(text, value):
    assert slot_of(text, "works_at") == [value], slots(run(text))


@pytest.mark.parametrize(
    "text",
    [
        "I'm at Disneyland, been here two days.",
        "I'm at Google, been here two hours.",
        "Long day at Disneyland, the kids loved it.",
        "Long day at Disneyland, work tomorrow.",
        "Long day at the beach today.",
        "We landed, now at Heathrow.",
        "Got the job! I'm at Nando's tonight to celebrate.",
        "I'm a teacher with ten years of experience.",
        "I quit my job at Initech.",
        "I hated my job at Initech.",
        "My old boss at Initech called.",
        "My sister's boss at Initech is nice.",
        "Our office at Canary Wharf is huge.",
        "Work at Google must be fun.",
        "Work's crazy at Christmas.",
        "I also lost my job at Door Dash this month.",
        "I do yoga for fun.",
        "I do volunteer work for Oxfam.",
        "I might be starting at Globex, new job maybe.",
        "I'm starting at Harvard in the fall.",
        "The show is starting at Madison Square Garden.",
        "I've been with Tom for five years.",
        "I've worked at Google before.",
        "I'm a former Globex employee.",
        "My employer, Globex, fired me.",
        "I left London for Berlin, new job and all.",
        "Applying for a new job at Globex.",
        "My sister's new job at Globex is great.",
        "New job: barista at Starbucks",
    ],
)
def test_works_at_more_limits(text):
    assert slot_of(text, "works_at") == [], slots(run(text))


@pytest.mark.parametrize(
    ("text", "attribute", "value"),
    [
        # appositions: in brackets or dashes, with no comma, after "a <pet>,"
        ("Coco (my cat) knocked everything off the shelf again", "name_of:cat", "coco"),
        ("Luna (our cat) is asleep.", "name_of:cat", "luna"),
        ("Biscuit (my puppy) chewed my shoe.", "name_of:puppy", "biscuit"),
        ("My cat (Luna) is asleep.", "name_of:cat", "luna"),
        ("taking Max my dog to the vet tomorrow", "name_of:dog", "max"),
        ("walking Rex my dog in the rain", "name_of:dog", "rex"),
        ("We have a little parrot, Smokey", "name_of:parrot", "smokey"),
        ("I have a hamster, Gizmo.", "name_of:hamster", "gizmo"),
        ("We've got a tortoise, Pixel, who is 40.", "name_of:tortoise", "pixel"),
        ("Got a new puppy, Biscuit!", "name_of:puppy", "biscuit"),
        ("Rex is my dog.", "name_of:dog", "rex"),
        ("Rex is my dog's name.", "name_of:dog", "rex"),
        # renamings with the new name in another clause or after a colon
        ("renamed the cat last week, he's Bandit now", "name_of:cat", "bandit"),
        ("We renamed the puppy, she's Pumpkin now.", "name_of:puppy", "pumpkin"),
        ("oh and my dog isn't Max anymore, we call him Loki", "name_of:dog", "loki"),
        ("My cat isn't Tom anymore, we call her Luna.", "name_of:cat", "luna"),
        ("My cat used to be called Tom but now she's Luna.", "name_of:cat", "luna"),
        ("My cat is no longer called Tom, she's Luna now.", "name_of:cat", "luna"),
        ("Our dog was Rex but we changed his name to Max.", "name_of:dog", "max"),
        ("I have a cat, she goes by Luna now.", "name_of:cat", "luna"),
        ("My dog is great, his new name is Max.", "name_of:dog", "max"),
        ("the kids decided the dog should be called Max, so that's his name now", "name_of:dog",
         "max"),
        ("The family decided the hamster would be called Ziggy.", "name_of:hamster", "ziggy"),
        ("We decided to call the puppy Biscuit.", "name_of:puppy", "biscuit"),
        ("we ended up changing the parrot's name to Daisy", "name_of:parrot", "daisy"),
        ("we finally changed the dog's name to Buster", "name_of:dog", "buster"),
        ("Went ahead and renamed my cat Oreo.", "name_of:cat", "oreo"),
        ("The dog is now called Max.", "name_of:dog", "max"),
        ("Max is the dog's new name.", "name_of:dog", "max"),
        ("new name for my rabbit: Rocky", "name_of:rabbit", "rocky"),
        ("The new name for our dog is Toby.", "name_of:dog", "toby"),
        ("Anna (my sister) lives in Rome.", "name_of:sister", "anna"),
    ],
)  # fmt: skip
def test_pet_names_in_more_words(text, attribute, value):
    assert slot_of(text, attribute) == [value], slots(run(text))


@pytest.mark.parametrize(
    "text",
    [
        "Max my dog is asleep.",
        "I told Anna my dog is sick.",
        "I showed Tom my cat.",
        "Thanks Tom my dog and I loved it.",
        "Rex (my friend's dog) is cute.",
        "Rex (her dog) is cute.",
        "My sister renamed the cat, he's Bandit now.",
        "She renamed the cat last week, he's Bandit now.",
        "My sister decided the dog should be called Rex.",
        "The vet decided the dog should be called Rex.",
        "We decided the dog should be called Rex but then changed our minds.",
        "The kids want the dog to be called Max.",
        "My cat is lovely, she's Persian.",
        "I have a cat and she's Persian.",
        "I have a dog, Labrador.",
        "I have two cats, Luna and Milo.",
        "My sister has a cat, she's called Luna.",
        "Rex is my dog walker.",
        "Rex is our neighbour's dog.",
        "The dog next door is now called Max.",
        "The dog is called Max.",
        "My sister changed her name to Anna.",
        "New name for the project: Apollo.",
        "New name for my sister's cat: Luna.",
        "I renamed the file, it's Report now.",
    ],
)
def test_pet_name_more_limits(text):
    assert [a for a, _ in slots(run(text)) if a and a.startswith("name_of:")] == [], slots(
        run(text)
    )


@pytest.mark.parametrize(
    ("text", "attribute", "value"),
    [
        ("new favorite color: coral", "favourite:colour", "coral"),
        ("current favourite food: dumplings", "favourite:food", "dumplings"),
        ("All-time favourite colour: navy.", "favourite:colour", "navy"),
        ("New favourite food is pho.", "favourite:food", "pho"),
        ("Favourite colour? beige, easily", "favourite:colour", "beige"),
        ("Favourite food? Tacos, no contest.", "favourite:food", "tacos"),
        ("My fave colour? Lavender.", "favourite:colour", "lavender"),
        ("Favourite colour? I'd say blue.", "favourite:colour", "blue"),
        ("since last month my fave colour has been teal", "favourite:colour", "teal"),
        ("my favourite food has been ramen for a while now", "favourite:food", "ramen"),
        ("My favourite colour's been green since spring.", "favourite:colour", "green"),
        ("My favourite colour has been red for years but now it's blue.", "favourite:colour",
         "blue"),
        ("My favourite colour is no longer red, it's green.", "favourite:colour", "green"),
        ("if I had to pick a favourite colour it'd be burgundy", "favourite:colour", "burgundy"),
        ("If I had to choose a favourite food, it would be pho.", "favourite:food", "pho"),
        ("If I had to pick, my favourite colour would be maroon.", "favourite:colour", "maroon"),
        ("Blue has overtaken red as my favourite colour.", "favourite:colour", "blue"),
        ("I changed my favourite colour to green.", "favourite:colour", "green"),
    ],
)  # fmt: skip
def test_favourites_in_more_words(text, attribute, value):
    assert slot_of(text, attribute) == [value], slots(run(text))


@pytest.mark.parametrize(
    "text",
    [
        "Favourite colour? What's yours?",
        "Favourite food? Hmm, hard to say.",
        "What's your favourite colour? Blue?",
        "Your favourite colour: blue, right?",
        "My favourite colour: I don't have one.",
        "plus favorite tunes is usually enough.",
        "This is my favorite studio and it's always so calming.",
        "Her new favourite colour is red.",
        "My sister changed her favourite colour to green.",
        "Blue has replaced red as the company colour.",
    ],
)
def test_favourite_more_limits(text):
    assert [a for a, _ in slots(run(text)) if a and a.startswith("favourite:")] == [], slots(
        run(text)
    )


@pytest.mark.parametrize(
    ("text", "key", "value", "content"),
    [
        # a stance with "I'm" / "I" left out
        ("Not into ramen these days", "ramen", "no", "Sam is not into ramen."),
        ("not a fan of curry, sorry", "curry", "no", "Sam is not a fan of curry."),
        ("Not a huge fan of cider.", "cider", "no", None),
        ("Big tacos fan here", "tacos", "yes", "Sam is a fan of tacos."),
        ("can't get enough of olives", "olives", "yes", "Sam can't get enough of olives."),
        ("Can't stand olives.", "olives", "no", None),
        ("Really enjoy kombucha.", "kombucha", "yes", None),
        # the thing first
        ("falafel is disgusting imo", "falafel", "no", "Sam finds falafel disgusting."),
        ("Oysters are gross tbh.", "oysters", "no", None),
        ("Pancakes are delicious.", "pancakes", "yes", "Sam finds pancakes delicious."),
        ("Ramen tastes amazing.", "ramen", "yes", None),
        ("kimchi just isn't for me", "kimchi", "no", "Kimchi just isn't for Sam."),
        ("Coffee really isn't for me.", "coffee", "no", None),
        ("honestly risotto makes me feel sick now", "risotto", "no",
         "Risotto makes Sam feel sick."),
        ("Chocolate is my guilty pleasure.", "chocolate", "yes", None),
        ("Ugh, burritos. no thanks", "burritos", "no", "Sam does not like burritos."),
        ("Eww, anchovies, hard pass.", "anchovies", "no", None),
        ("Sushi? Love it!", "sushi", "yes", "Sam loves sushi."),
        ("Olives - can't stand them.", "olives", "no", None),
        # perfects with never / always, idioms
        ("I've never liked spaghetti", "spaghetti", "no", "Sam has never liked spaghetti."),
        ("I've never been a fan of whisky.", "whisky", "no", None),
        ("I've always loved tea.", "tea", "yes", "Sam has always loved tea."),
        ("I could have lasagne every day tbh", "lasagne", "yes",
         "Sam could have lasagne every day."),
        ("I'm not big on spicy food.", "spicy food", "no", None),
        ("I've developed a taste for olives.", "olives", "yes", None),
        ("I've become a big fan of kimchi.", "kimchi", "yes", None),
        # "it" standing for the thing named before
        ("I used to hate curry but I love it now", "curry", "yes", "Sam loves curry."),
        ("Tried goulash again last week and now I love it", "goulash", "yes", None),
        ("changed my mind about tofu, I like it now", "tofu", "yes", None),
        ("I used to love oysters but now I can't stand it", "oysters", "no", None),
        ("Gave kimchi another try and I really like it now.", "kimchi", "yes", None),
        ("I used to like beer but not anymore.", "beer", "no", "Sam no longer likes beer."),
        ("I used to hate tofu, not any more.", "tofu", "yes", None),
    ],
)  # fmt: skip
def test_preferences_in_more_words(text, key, value, content):
    assert slot_of(text, f"likes:{key}") == [value], slots(run(text))
    fact = next(f for f in of_type(run(text), "semantic") if f.attribute == f"likes:{key}")
    if content is not None:
        assert fact.content == content
    assert_valid([fact])


@pytest.mark.parametrize(
    "text",
    [
        "Tom Smith is gross, honestly.",
        "The soup is disgusting.",
        "This is delicious.",
        "My boss makes me sick.",
        "Is pizza delicious?",
        "Ugh, Tom. No thanks.",
        "Ugh, my boss, no thanks",
        "Ugh, I'm tired. No thanks.",
        "Thanks - love it!",
        "Tom Smith - love it.",
        "Not into it.",
        "Obsessed with this song.",
        "Don't like it.",
        "Don't you like tea",
        "I never liked olives until I tried them in Greece.",
        "I've always hated olives but now I love them.",
        "I've never liked my boss.",
        "I used to hate curry but my sister loves it.",
        "My sister tried goulash and she loves it.",
        "My sister used to like beer but not anymore.",
        "I used to like Tom but not anymore.",
        "I could eat a horse.",
        "I could eat pizza every day if I were rich.",
        "Don't like to complain, but the food was cold.",
    ],
)
def test_preference_more_limits(text):
    assert [a for a, _ in slots(run(text)) if a and a.startswith("likes:")] == [], slots(run(text))


@pytest.mark.parametrize(
    ("text", "attribute", "value"),
    [
        ("Moved from Rotterdam to Tokyo last week.", "lives_in", "tokyo"),
        ("We relocated from Oslo to Bergen.", "lives_in", "bergen"),
        ("I moved from Berlin, I live in Paris now.", "lives_in", "paris"),
        ("I'm not in Berlin anymore, I'm in Paris now.", "lives_in", "paris"),
        ("I lived in Paris. I left Paris. I live in Berlin now.", "lives_in", "berlin"),
        ("I left Acme and joined Globex.", "works_at", "globex"),
        ("I'm no longer at Initech, I work at Globex these days.", "works_at", "globex"),
        ("Not at Initech any more, I work at Globex.", "works_at", "globex"),
        ("Left Initech last month. Now at Globex, new role!", "works_at", "globex"),
        ("I've been at Initech for years. Update: I left Initech, new job: Globex.", "works_at",
         "globex"),
        ("My old job at Initech was awful, my new job at Globex is great.", "works_at", "globex"),
        ("My dog isn't Max anymore, we call him Loki.", "name_of:dog", "loki"),
        ("We renamed the rabbit from Loki to Juno.", "name_of:rabbit", "juno"),
        ("My favourite colour is no longer red, it's green.", "favourite:colour", "green"),
        ("My favourite colour used to be red, now it's blue.", "favourite:colour", "blue"),
    ],
)  # fmt: skip
def test_a_message_naming_old_and_new_values_gives_only_the_new_one(text, attribute, value):
    assert [(a, v) for a, v in slots(run(text)) if a == attribute] == [(attribute, value)]


def test_joined_fragments_keep_the_original_sentence_as_details():
    (fact,) = of_type(run("Favourite colour? Beige, easily."), "semantic")
    assert (fact.attribute, fact.value) == ("favourite:colour", "beige")
    assert fact.fields["details"] == "Favourite colour? Beige, easily."
    (dislike,) = of_type(run("Ugh, burritos. No thanks."), "semantic")
    assert dislike.attribute == "likes:burritos"
    assert dislike.fields["details"].startswith("Ugh, burritos. No thanks")


def test_a_left_out_subject_after_a_negative_contraction_is_no_question():
    assert slots(run("Can't stand mushrooms.")) == [("likes:mushrooms", "no")]
    assert slots(run("Had falafel again yesterday and I hate it now.")) == [("likes:falafel", "no")]
    assert slots(run("Can't you see I live in Rome")) == []
    assert slots(run("Have you moved to Rome")) == []
