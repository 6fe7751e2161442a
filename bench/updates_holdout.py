"""Held-out phrasings for `bench.updates` (`--phrasings holdout`).

These templates were written BLIND: before reading the rule-based extractor
(memsvc/algorithms/message_extract.py) or any other code under memsvc/, and before reading
the existing ("dev") templates in bench/updates.py (only that module's docstring had been
read). They are meant to be phrased the way people actually write in chat, not the way the
extractor expects, so that a score on them says something about generalisation rather than
about templates and rules tuned together. Do not edit them to make the extractor score
better: add new phrasings instead, and keep this set frozen once results are published.

Placeholders:
    {city}                       a city
    {employer}                   a company or organisation
    {pet}                        the animal kind word (dog, cat, rabbit ...)
    {name}                       the pet's name
    {thing}                      "colour", "color" or "food"
    {value}                      the favourite (a colour or a food)
    {food}                       a food or drink
    {old_city} {old_employer} {old_name} {old_value}
                                 the value being replaced, only in some NEW statements
                                 (people often say what they moved or changed from)

Each kind has OLD statements (what is true at first) and NEW statements (the change). Likes
have four lists: a liking or a disliking stated first, and a change to liking ("came round")
or to disliking ("gone off") stated later.
"""

from __future__ import annotations

# ---- moved: city -------------------------------------------------------------------------

MOVED_OLD: list[str] = [
    "I live in {city}, it's alright most of the time",
    "born and raised in {city} and still here lol",
    "we've got a flat in {city}, near the station",
    "i'm based in {city} these days",
    "Home for me is {city}.",
    "been living in {city} for about six years now",
    "I'm a {city} girl through and through",
    "my place in {city} is tiny but the rent is ok",
    "so I'm in {city}, if that matters for the recommendations",
]

MOVED_NEW: list[str] = [
    "I moved to {city} last month!",
    "finally relocated to {city}, still unpacking boxes",
    "we packed up and left {old_city}, we're in {city} now",
    "just a heads up, I live in {city} now",
    "new city new me: {city} 🎉",
    "Moved from {old_city} to {city} last week, the neighbourhood is lovely",
    "i'm living in {city} since the spring",
    "ok so update, I'm now based in {city}",
    "got the keys to our new place in {city} yesterday",
]

# ---- job: employer -----------------------------------------------------------------------

JOB_OLD: list[str] = [
    "I work at {employer}",
    "i'm at {employer}, been there about three years",
    "My employer is {employer}.",
    "I'm a software engineer with {employer}",
    "work's been hectic at {employer} lately",
    "I've got a job at {employer}, mostly backend stuff",
    "currently working for {employer} in their london office",
    "i do data analysis for {employer}",
    "long day at {employer} today, the usual",
]

JOB_NEW: list[str] = [
    "I just started a new job at {employer}!",
    "I left {old_employer} and joined {employer} last month",
    "handed in my notice, starting at {employer} on monday",
    "so I work for {employer} now",
    "new job! i'm at {employer} as of this week",
    "Quick update: I've moved over to {employer}",
    "got hired by {employer}, first day was great",
    "I switched jobs in the spring, now at {employer}",
    "no longer at {old_employer}, i work at {employer} these days",
]

# ---- pet: new name of the same pet -------------------------------------------------------

PET_OLD: list[str] = [
    "my {pet} is called {name}",
    "I've got a {pet} named {name}",
    "{name} (my {pet}) knocked everything off the shelf again",
    "We have a little {pet}, {name}",
    "our {pet}'s name is {name}, she's a rescue",
    "i have a {pet}, her name's {name}",
    "taking {name} my {pet} to the vet tomorrow",
    "My {pet} {name} is asleep on my keyboard lol",
]

PET_NEW: list[str] = [
    "we renamed our {pet} to {name}",
    "My {pet} is called {name} now, the old name never suited him",
    "we ended up changing the {pet}'s name to {name}",
    "the kids decided the {pet} should be called {name}, so that's his name now",
    "oh and my {pet} isn't {old_name} anymore, we call him {name}",
    "renamed the {pet} last week, he's {name} now",
    "i started calling my {pet} {name} and it stuck",
    "Our {pet} goes by {name} these days",
    "new name for my {pet}: {name}",
]

# ---- favourite: colour / color / food ----------------------------------------------------

FAVOURITE_OLD: list[str] = [
    "my favourite {thing} is {value}",
    "My favorite {thing} is {value}.",
    "{value} is my favourite {thing}, always has been",
    "i'd say my fave {thing} is {value}",
    "nothing beats {value}, it's my favorite {thing}",
    "if I had to pick a favourite {thing} it'd be {value}",
    "Favourite {thing}? {value}, easily",
    "my all time favorite {thing} has to be {value}",
]

FAVOURITE_NEW: list[str] = [
    "my favourite {thing} is {value} now",
    "I think {value} is my new favorite {thing}",
    "honestly my favourite {thing} these days is {value}",
    "I used to love {old_value} but now my favourite {thing} is {value}",
    "new favorite {thing}: {value}",
    "changed my mind, {value} is my favourite {thing} now",
    "since last month my fave {thing} has been {value}",
    "{value} has become my favorite {thing}",
    "My favourite {thing} is no longer {old_value}, it's {value}",
]

# ---- likes: a food or drink --------------------------------------------------------------

LIKES_OLD_LIKE: list[str] = [
    "I love {food}",
    "i really like {food}",
    "{food} is my jam honestly",
    "I'm a big fan of {food}",
    "can't get enough of {food}",
    "I could have {food} every day tbh",
    "Big {food} fan here",
    "I adore {food}, always have",
    "honestly I enjoy {food} a lot",
]

LIKES_OLD_DISLIKE: list[str] = [
    "I hate {food}",
    "i don't like {food} at all",
    "{food} is disgusting imo",
    "I can't stand {food}",
    "not a fan of {food}, sorry",
    "I really dislike {food}",
    "Ugh, {food}. no thanks",
    "{food} just isn't for me",
    "I've never liked {food}",
]

LIKES_NEW_LIKE: list[str] = [
    "I've come round to {food}, it's actually really good",
    "I used to hate {food} but I love it now",
    "ok I actually like {food} now, who knew",
    "turns out I really like {food} after all",
    "Tried {food} again last week and now I love it",
    "i'm into {food} these days",
    "{food} has grown on me, I really like it now",
    "I've started enjoying {food} lately",
    "changed my mind about {food}, I like it now",
]

LIKES_NEW_DISLIKE: list[str] = [
    "I've gone off {food}",
    "i don't like {food} anymore",
    "I used to love {food} but now I can't stand it",
    "honestly {food} makes me feel sick now",
    "Not into {food} these days",
    "I went off {food} last month, can't face it",
    "I don't really like {food} any more tbh",
    "{food} isn't for me anymore",
    "I've stopped liking {food}",
]

HOLDOUT: dict[str, dict[str, list[str]]] = {
    "moved": {"old": MOVED_OLD, "new": MOVED_NEW},
    "job": {"old": JOB_OLD, "new": JOB_NEW},
    "pet": {"old": PET_OLD, "new": PET_NEW},
    "favourite": {"old": FAVOURITE_OLD, "new": FAVOURITE_NEW},
    "likes": {
        "old_like": LIKES_OLD_LIKE,
        "old_dislike": LIKES_OLD_DISLIKE,
        "new_like": LIKES_NEW_LIKE,
        "new_dislike": LIKES_NEW_DISLIKE,
    },
}
"""Kind -> role -> templates (see the module docstring for roles and placeholders)."""
