"""Second held-out phrasings for `bench.updates` (`--phrasings holdout2`).

These templates were written BLIND: before reading the rule-based extractor
(memsvc/algorithms/message_extract.py), its tests, the existing ("dev") templates in
bench/updates.py and the first held-out set in bench/updates_holdout.py. Only the module
docstrings of bench/updates.py and bench/updates_holdout.py (for the placeholder names) had
been read. The extractor was last improved by someone who could see both earlier sets, so
this set is the honest check on generalisation. Do not edit these to make the extractor
score better: add new phrasings instead, and keep this set frozen once results are published.

Placeholders (the same as bench/updates_holdout.py):
    {city}                       a city
    {employer}                   a company or organisation
    {pet}                        the animal kind word (dog, cat, rabbit ...)
    {name}                       the pet's name
    {thing}                      "colour", "color" or "food"
    {value}                      the favourite (a colour or a food)
    {food}                       a food or drink
    {old_city} {old_employer} {old_name} {old_value}
                                 the value being replaced, only in some NEW statements

Each kind has OLD statements (what is true at first) and NEW statements (the change). Likes
have four lists: a liking or a disliking stated first, and a change to liking ("came round")
or to disliking ("gone off") stated later. The phrasings mix registers (formal, casual,
texting), put the statement at different places in the message, add unrelated remarks and
time words, and use "we"/"our" for household things. None is a question.
"""

from __future__ import annotations

# Written blind to the extractor, its tests and the other two phrasing sets (see above).

MOVED_OLD: list[str] = [
    "I live in {city}, have done for years.",
    "Home for me is {city}.",
    "Greetings from {city}, where it is, as usual, raining sideways.",
    "We've got a little flat in {city}, nothing fancy but it's ours.",
    "im based in {city} btw",
    "I am currently resident in {city}.",
    "Been living in {city} since March and honestly loving it.",
    "My place in {city} is tiny but the neighbours are lovely.",
    "ok so context: I'm a {city} local, born and raised.",
    "Just got back to {city} after a long weekend away, so glad to be home!",
    "Our house in {city} has the worst wifi, sorry if I drop out.",
    "Living in {city} means I walk everywhere, which suits me fine.",
]

MOVED_NEW: list[str] = [
    "We finally moved to {city}! Boxes everywhere.",
    "I've relocated to {city} for the foreseeable future.",
    "new city who dis. {city} now lol",
    "Said goodbye to {old_city} a couple of weeks ago, I'm in {city} now.",
    "Moving day was Saturday, so I'm officially a {city} resident.",
    "Just a heads up, my address has changed: I live in {city} now.",
    "We packed up and left {old_city} last month; home is {city} these days.",
    # "bakery" was "coffee" in the blind draft: a drink is a likes value the judge would read.
    "Settling into {city} slowly. Still can't find a decent bakery anywhere.",
    "I'm in {city} now, moved here in the spring.",
    "After ten years in {old_city} I finally made the jump to {city}.",
    "Signed the lease on a flat in {city} and moved in yesterday!",
    "Our new place in {city} is twice the size of the old one. Anyway, how was your week.",
]

JOB_OLD: list[str] = [
    "I'm with {employer}, been there about three years.",
    "My employer is {employer}.",
    "Work at {employer} has been hectic this week, sorry for the late reply.",
    "I've got a job at {employer} in their operations team.",
    "i work for {employer}, the pay's ok",
    "Day job: {employer}. Night job: trying to finish this novel.",
    "I'm employed by {employer} as an analyst.",
    "Currently at {employer}, mostly doing spreadsheets, don't ask.",
    "We had our quarterly all-hands at {employer} today and it ran two hours over.",
    "I've been working at {employer} since March.",
    "Long day at {employer} again. I need a holiday!",
    "As an employee of {employer}, I get Friday afternoons off in summer.",
]

JOB_NEW: list[str] = [
    "I started a new job at {employer} this week!",
    "Left {old_employer} and started at {employer} on Monday.",
    "big news: i work at {employer} now!!",
    "I've accepted a position with {employer} and started last week.",
    "First week at {employer} done, everyone's been really welcoming.",
    "I no longer work at {old_employer}. I'm at {employer} now.",
    "Switched jobs a couple of weeks ago, now at {employer}.",
    "So I'm a {employer} employee as of this month, wild.",
    "New employer: {employer}. New commute: awful.",
    "I've moved over to {employer}, the team is small but brilliant.",
    "After five years at {old_employer} I got hired by {employer}, still pinching myself.",
    "Just finished onboarding at {employer}, and my sister had her baby yesterday!",
]

PET_OLD: list[str] = [
    "Our {pet} is called {name} and she runs the house.",
    "I have a {pet} named {name}.",
    "{name} (my {pet}) just knocked a mug off the table, brilliant.",
    "We got a {pet} last year, we call him {name}.",
    "my {pet} {name} is snoring next to me rn",
    "Had to take {name}, our {pet}, to the vet this morning, nothing serious.",
    "The {pet} is called {name}, after my grandad.",
    "I share my flat with a {pet} called {name}.",
    "{name} is my {pet}'s name, in case I mention him.",
    "Walking {name} the {pet} is the best part of my day.",
    "Our {pet}, {name}, turned three last week!",
]

PET_NEW: list[str] = [
    "We've renamed our {pet} {name}, the old name never suited him.",
    "My {pet} goes by {name} now.",
    "Changed the {pet}'s name to {name}. {old_name} just didn't fit.",
    "The kids voted and the {pet} is now called {name}, lol.",
    "Fun fact: my {pet} isn't {old_name} any more, she's {name}.",
    "We call the {pet} {name} these days, and he answers to it too.",
    "After a lot of debate we started calling our {pet} {name} last month.",
    "Officially renamed my {pet}: meet {name}!",
    "my {pet}'s new name is {name} and he loves it",
    "I decided {name} is a better name for my {pet}, so that's what she's called now.",
    "Our {pet} has a new name, {name}, and the vet's records are updated.",
    "Renamed the {pet} {name} a couple of weeks ago. Also, finally fixed the boiler!",
]

FAVOURITE_OLD: list[str] = [
    "My favourite {thing} is {value}.",
    "{value} is my favourite {thing}, always has been.",
    "If I had to pick one {thing}, it'd be {value}.",
    "fav {thing} = {value} tbh",
    "I adore {value}, it's my favourite {thing} by miles.",
    "Nothing beats {value}, my favourite {thing} of all.",
    "For the record, my favorite {thing} is {value}.",
    "We both love {value}; it's our favourite {thing}.",
    "Honestly {value} has been my top {thing} since I was a kid.",
    "My all-time favourite {thing}: {value}.",
    "I think {value} is the best {thing} there is, and I'll die on that hill.",
]

FAVOURITE_NEW: list[str] = [
    "My favourite {thing} is {value} now.",
    "These days my favourite {thing} is {value}, not {old_value}.",
    "Changed my mind: {value} is my new favourite {thing}.",
    "{old_value} used to be my favourite {thing} but {value} has taken over.",
    "new fav {thing}: {value}!!",
    "I've gone right off {old_value}; {value} is my favourite {thing} now.",
    "Over the last month {value} has become my favourite {thing}.",
    "Right now my favourite {thing} would be {value}, funny how tastes change.",
    "My favorite {thing} lately is {value}, and my boss finally approved my leave.",
    "Since the spring, {value} has been my top {thing}.",
    "Honestly {value} is my favourite {thing} at the moment.",
    "Can't believe I'm saying it, but {value} beats {old_value} as my favourite {thing} now.",
]

LIKES_OLD_LIKE: list[str] = [
    "I love {food}.",
    "I'm really into {food} at the moment.",
    "{food} is the best thing ever.",
    "i could have {food} every single day tbh",
    "We always have {food} in the house, I can't get enough of it.",
    "I've always enjoyed {food}.",
    "I'm quite fond of {food}.",
    "Had {food} again at lunch, I'm obsessed.",
    "Big fan of {food}, always have been.",
    "Nothing makes me happier than {food} on a Sunday.",
    "I really like {food}, and by the way the parcel arrived.",
]

LIKES_OLD_DISLIKE: list[str] = [
    "I hate {food}.",
    "I can't stand {food}.",
    "{food} is disgusting, sorry not sorry.",
    "i really dont like {food}",
    "I've never been able to stomach {food}.",
    "We never buy {food}; I find it revolting.",
    "I'm not a fan of {food} at all.",
    "Ugh, {food}. No thanks, ever.",
    "I detest {food}, always have.",
    "Honestly {food} makes me gag, and don't get me started on the traffic today.",
    "I'm really not keen on {food}.",
]

LIKES_NEW_CAME_ROUND: list[str] = [
    "I've come round to {food}, it's actually great.",
    "Turns out I like {food} now!",
    "I used to hate {food} but I love it these days.",
    "ok i was wrong about {food}, it's delicious",
    "We've started buying {food} every week, I've grown to love it.",
    "I've developed a real taste for {food} lately.",
    "Never thought I'd say it, but I really enjoy {food} now.",
    "Gave {food} another go last month and now I'm hooked.",
    "I'm actually quite into {food} these days.",
    "My opinion of {food} has completely changed: I like it now.",
    "I've been loving {food} for a couple of weeks now. Also, the garden's finally blooming!",
]

LIKES_NEW_GONE_OFF: list[str] = [
    "I've gone off {food}.",
    "I don't like {food} any more.",
    "Not into {food} these days, can't explain it.",
    "ugh i used to love {food} but now i cant stand it",
    "I've gone completely off {food} since the spring.",
    "We've stopped buying {food}; none of us enjoy it anymore.",
    "{food} just doesn't do it for me now.",
    "I've lost my taste for {food}.",
    "Honestly I'm sick of {food}, I couldn't face it again.",
    "I really dislike {food} now, weird how that happens.",
    "I went off {food} last month, and my car failed its MOT, great week.",
    "These days I'd rather skip {food} altogether.",
]

HOLDOUT2: dict[str, dict[str, list[str]]] = {
    "moved": {"old": MOVED_OLD, "new": MOVED_NEW},
    "job": {"old": JOB_OLD, "new": JOB_NEW},
    "pet": {"old": PET_OLD, "new": PET_NEW},
    "favourite": {"old": FAVOURITE_OLD, "new": FAVOURITE_NEW},
    "likes": {
        "old_like": LIKES_OLD_LIKE,
        "old_dislike": LIKES_OLD_DISLIKE,
        "new_like": LIKES_NEW_CAME_ROUND,
        "new_dislike": LIKES_NEW_GONE_OFF,
    },
}
"""Kind -> role -> templates, the roles of bench/updates_holdout.py (see the docstring)."""
