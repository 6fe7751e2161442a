"""Deterministic (no-LLM) extraction of typed memories from conversation messages.

This is the rule-based path of ``POST /v1/cubes/{id}/messages`` with ``infer: true``: the
MIRIX memory managers (research/algorithms.md §5.2) read a conversation and write typed
memories; here regular expressions and word lists do a narrow, predictable part of that job
(§5.6, the deterministic fallback). ``extract`` is pure: no I/O, the same messages always give
the same list, in message order (within a message, roughly in text order).

Who speaks
----------
* ``user`` (or ``human``) messages: the speaker is ``user_label``, else ``Message.name``, else
  the unnamed user ("The user" in text, subject ``"user"``). Only these messages yield facts,
  events and vault entries about the user.
* ``assistant`` (or ``ai``/``bot``) messages yield only procedural step lists and links: what
  the assistant says about the user ("you live in Berlin") is not evidence and is ignored.
  Their subject is the most recent user speaker (else the first named one, else ``"user"``).
* Any other role (``system``, ``tool``, ...) yields nothing.

Every extraction has a ``subject`` (the speaker's name in lower case, or ``"user"``), a
standalone ``content`` in the third person, ``fields`` valid for its type's schema
(``memsvc.domain.fields``) and, when the fact fills a slot, an ``attribute`` and a ``value``
(both lower case) for update detection (``memsvc.algorithms.update_decision``).

Rules, by memory type (all matching is case-insensitive unless noted; English only)
------------------------------------------------------------------------------------
**semantic** (user messages; present-tense first-person statements, one clause each). X
marked (Cap) must be written as a name (capitalised words, "the Netherlands", "Rio de Janeiro"):

==============================================================  ======================  ======
statement                                                        attribute               value
==============================================================  ======================  ======
I live / reside in X, I'm living / based in X, I (just) moved   ``lives_in``            x
/ relocated to X, I've been living / based in X, I've settled
/ I settled (down) in X (Cap), I've lived in X + a duration
("for 5 years", "since 2019", "all my life"), I've been in X
(Cap) + a duration, (my) home / my address is (in) X (for me)
(Cap), X is (my) home / has been home (for years) (Cap), X is
where I live (Cap), I call X home, I've made X my home (Cap),
"X, where I live / where I've lived for ...", "X, my new home"
(Cap), I've moved into a flat in X, I'm renting a flat in X;
I'm in X now / I'm now / currently in X / I'm in X these days
(Cap; not with a trip word: "for a conference", "this week",
"hotel", "for work"...), also with a background cue instead of
"now" ("so I'm in Madrid, if that matters / helps", "for
context", "time zone"); "we" for live / moved / been living /
're living / settled / 're in X now (Cap), not "we're based".
Also (Cap): I moved / relocated / made the move from A to B
(B; A is no home), since / after moving to X; born and raised
/ born and bred / grew up in X + "still here / there" or
"never left"; homes: my / our (new / own / little / tiny ...)
flat / place / house / home in X ("my place in Rome is tiny"),
from / at my flat in X, "new flat in X" opening a clause, I /
we have / own / 've got a flat / house / place ... in X
(housing: not with sell, holiday, summer, second, another,
also / too, old, parents', bought, viewed, miss, rent out,
Airbnb, "for my sister" ... in the sentence, nor a trip word,
nor "was" after X); I'm a X local / resident, I'm a X girl /
guy / lad ... + "through and through" / "born and bred" (not
"at heart", not a brand from a short list); I'm (a) X-based
(<job>); headlines "new city (, new me): X", "new home: X"
I'm (originally) from X, I come from X                          ``from``                x
I work at/for X, I'm working at X, I'm employed by X, I've      ``works_at``            x
been working at X, I (just) started (working / a new job) at
X, I got / landed / took / accepted a (new) job / role /
position at X, I accepted an offer from X, I got / was hired
by / at X, X hired me, my (new) employer is X, X is my
employer, my new job is at X, my new company is X (Cap), X is
where I work, I'm a <job> at X; weaker, (Cap) and checked: I
joined X (an organisation suffix such as "Industries", a job
word in the sentence, or nothing after X but a time or "as a
<job>"), I'm at X / ", now at X" / I switched to X (a job word
in the sentence: "new job", "switched jobs", "hired", "role",
"as a <job>", "been there (about) three years"... or an
organisation suffix; for "I'm at" / "now at" also "new job",
"hired", "handed in my notice"... in another sentence of the
message, when the sentence has no "tonight", "for lunch",
"celebrating"...), I've been at X / I've worked at X (+ months
or years, "since ..."), I've been with X (a job word too), I'm
a <job> with X, my job / boss / manager / team / colleagues /
role / position / department at X (not after a past verb or
quit / left / lost in the clause), work's / work has been ...
at X, work at X is ..., a long / hectic / rough / tough day /
week / shift at X (+ "the usual", "at work", "office", "boss"
... or an organisation suffix), I do <work: data analysis,
backend work, marketing, design ...> for X (not volunteer /
charity work), I work in / on <a team> at X, I'm on the <x>
team at X, my company / employer(,) X, I'm a X employee /
staffer, I'm starting / I start / ", starting at X" (a job
word or an organisation suffix; a date ahead is fine), I
changed / switched jobs (from A) to B; with an organisation
suffix only: I've moved (over) to B, I left A for B; headlines
"new job: X", "new job at X"
I study at X, I'm studying at X, I'm a student at X             ``studies_at``          x
I'm a/an <job>, I work as a/an X                                ``job``                 x
I'm married / single / engaged / divorced / widowed             ``relationship``        word
I'm vegetarian / vegan / pescatarian / flexitarian              ``diet``                word
my name is X, my name's X, call me X (X capitalised)            ``name``                x
my <pet or relative> is (now) called / named X, my <pet>'s      ``name_of:<pet>``       x
(new) name is X, my <pet> goes by / answers to X, my <pet> has
been renamed X, I have / adopted / got a <pet> called X, my
<pet or relative> X (Cap), "X, my <pet or relative>, ...", "X
(my <pet or relative>)", "my <pet> (X)", X is my <pet or
relative>, X is my <pet>'s (new) name, X is the <pet>'s new
name (Cap); a name right before "my <pet>" followed by a
preposition or the end ("taking Max my dog to the vet"; not
after tell / show / give ... or "thanks"); I / we have / got a
(little) <pet or relative>, X; for pets also "our": our <pet>
X, our <pet> is called X; I / we (ended up / decided to / went
ahead and) (re)name(d) / call / started calling my / our / the
<pet> X, I / we changed / ended up changing my / our / the
<pet>'s name to X, I adopted a <pet> and named it / her X;
after a pet of the speaker's earlier in the sentence (no
relative in between): his / her (new) name is X, he's / she's
called X, we call him / her X, he / she goes by / answers to
X, changed his / her name to X, and after a renaming ("renamed
the cat", "isn't Max anymore", "used to be called Max", "new
name"): he's / she's X (now); the household (we, the kids, my
wife and I ...) decided the <pet> should be called X / decided
to call the <pet> X (not "but then changed our minds"); the
<pet> is now / officially called X; "(the) new name for my /
the <pet>: X" or "... is X"
my favourite X is / has become / has been / 's been / remains   ``favourite:<x>``       y
Y, my favourite X has changed / used to be Z / has been Z (for
years), (but) (now) it's Y (Y), Y is / has become / has always
been (by far) my (new) favourite X, Y's my favourite X,
nothing beats Y / I love Y, it's my favourite X, if I had to
pick a favourite X, it'd be Y, if I had to pick, my favourite
X would be Y, Y has overtaken / replaced Z as my favourite X,
I changed / switched my favourite X (from Z) to Y; headlines
"(my) (new / current / all-time) favourite X: Y", "new
favourite X is Y", "Favourite X? Y" (when Y is no question)
("fave", "favorite" too; not a value that is a clause, "no
longer ..." or "not ...")
I like / love / enjoy / prefer / adore X, I'm a fan of X, I'm   ``likes:<x>``           yes
(really) into X, I'm a (huge) X fan, I've come round / around
to X, I've warmed to X, I've started liking / started to like
/ grown to love / come to love X, I'm starting to like X, I
can't get enough of X, I'm obsessed with / crazy about /
hooked on / keen on / fond of / big on X, I'm loving X, I've
been (really) into X, I've fallen in love with X, I've
developed a taste for X, I've become a fan of X, I've always
liked / loved X, nothing beats X, X is (really) my thing / my
cup of tea / my guilty pleasure, X has grown on me, X is / are
(so) delicious / tasty / yummy, X tastes amazing / great ...,
I could eat / have X every day (not with "if" ... after), I
used to hate X, (but) not anymore, "X? Love it!" / "X - love
it"; "it" after "I used to hate X but", "tried / had / ate X
again", "gave X another try", "changed my mind about X" in the
same sentence: ... I love / like it (now)
I don't like X, I no longer like X, I hate / dislike / detest   ``likes:<x>``           no
/ loathe X, I can't stand X, I'm not a fan of X, I'm not a X
fan, I'm not / no longer into X, I'm not keen on / fond of /
big on X, I've gone off X, I've lost my taste for X, I've had
enough of X, I'm so / totally over X, I'm sick / tired of X,
I've started to hate X, I've never (really) liked / been a fan
of X, I never liked X (not with "but", "until", "now", "as a
kid" ... after), X doesn't agree with me (a name other than
one word opening the sentence only with "any more", "these
days" ...), X has never been / isn't (really) my thing / my
cup of tea, X (just) is not for me (not "the / this X"), X is
/ are disgusting / gross / revolting / vile / overrated ..., X
tastes awful ..., X makes me (feel) sick (not a person, nor
"the / this / my X"), I used to like X, (but) not anymore,
"Ugh / yuck / eww, X(.) no thanks / hard pass", "X - can't
stand it"; "it" as above: ... I hate / can't stand it
I have / own / I've got a/an/<count> X                           ``has:<x>`` (singular)  yes /
                                                                                         count
I don't have a/an X                                              ``has:<x>``             no
I'm (not) allergic to X (lists split on commas, and, or)         ``allergic_to:<x>``     yes/no
my birthday is X, I was born on X                                ``birthday``            date
I was born in <year> / in <place>                                ``birth_year`` /        x
                                                                 ``born_in``
I'm N (years old), I just turned N                               ``age``                 n
==============================================================  ======================  ======

A left-out subject counts as the speaker's: at the start of a sentence ("Just moved to Oslo!",
"Got hired at Acme", "Renamed the cat", "Changed the dog's name ...", "Living in Rome now",
"Been in Paris for two years": the -ing and "been" forms only before a name; "Not into ramen",
"Not a fan of curry", "Big tacos fan here", "Can't stand olives", "Can't get enough of X",
"Really love X", "Never liked X": a stance; a first "can't" / "don't" / "had" ... followed by no
subject pronoun does not open a question) and after "and" in a clause whose subject is I / we
("I left Hooli and joined Globex", not "I think my sister left and moved to Rome").

Two fragments that make one statement are read together (the text keeps its length, and
``details`` the original sentence): "Favourite colour? Beige." as "Favourite colour: Beige.",
"Sushi? Love it!" as "Sushi: Love it!", "Ugh, burritos. No thanks" as one sentence. A message
that gives a single-valued slot (``lives_in``, ``works_at``, ``name_of:*``, ``favourite:*``) two
values drops the one it names as left behind ("left / from / quit / no longer (at) / isn't /
used to be / was / old / former X"): "I left Acme and joined Globex", "Moved from Rotterdam to
Tokyo" give the new value only. Emoji end a value ("Lisbon 🎉").

The value is the clause after the trigger (or the noun phrase that opens the clause before it:
"Y is my favourite X", "X has grown on me"), cut at the first clause boundary (punctuation,
"but", "because", "which", "and I/my/we ...", ...) and at slot-specific words ("with", "as",
"since", ...), without trailing fillers ("now", "anymore", "these days", "after all",
"lately", "instead", "for me", "by far", "always has been", "for 3 years", "all my life"), time
expressions ("in 2019") and a leading article, and without hedges in front ("I'd say", "I
think", "honestly", "lately", "probably", "to be honest"). ``content`` is canonical ("Sam
lives in Berlin.", "Sam's dog is called Max.", "Sam does not like coffee.", "Sam has gone off
coffee."), pronouns turned to the third person ("my" -> "their"). A favourite's slot name is
spelt the UK way and singular ("favorite colors" -> ``favourite:colour``, "flavor" ->
``flavour``, "kind of music" -> ``music``, "thing to eat" -> ``food``). <job> is a word from a
list of occupations or a lower-case -er/-or/-ist/-eer noun that is not a known non-occupation
("believer", "runner", "optimist", "a Berliner"); "former"/"aspiring"/"big" and similar first
words disqualify it.

Not extracted (limits): statements in questions (a final "?", or a first word that opens a
question: do/did/is/can/what/where/...); clauses after hypothetical or irrealis words in the
same sentence (if, unless, suppose, imagine, wish, hope, whether, maybe, perhaps, when, where,
...; not the hedges "if I'm honest", "if you ask me", "if I had to pick / choose / say") and
text after a double quotation mark (reported speech); negated or past statements ("I don't live
in Berlin", "I lived in Paris": the last may be an *event*; "I hated my job at X", "my flat in
Paris was lovely"), a clause with "used to" ("I used to call my dog Rex"; but "I used to like
X, but not anymore" is a change), present perfects without a duration ("I've lived in Paris and
Rome"), with one of days or hours ("I've been at Heathrow for 3 hours"), or with "until" /
"before" / "once" / "as a student"; future or intended ones ("I'm moving to X", "I want to work
at X", "after moving to Oslo next year"; the weaker employer triggers, "joined", "I'm at",
"I've been at", "switched to", "X hired me", "X is my employer", "my new company is X", not in
a sentence with "will", "going to", "next month", "soon" ...; only "I'm starting at X" / "I
start at X" with a job word or an organisation suffix may look ahead, not after "might",
"maybe", "hope" ...); a job that ended or was refused later in the sentence ("Google hired me
in 2010 and fired me in 2012", "I lost my job at X"); "we" statements other than the
household's home and pets ("we're based in London" is a company); facts about third parties
("my sister lives in Rome", "Sam lives in Berlin", "my sister's place in Rome", "the vet
decided the dog should be called Rex"); "I'm Sam". Greetings alone ("Greetings / hello from X")
are not a home (a trip as often), nor is "I'm in X" without "now" / "currently" / "these days"
or a background cue ("if that matters", "for context", "time zone"), or with "right now", a
trip word or a time ahead ("I'm in Tokyo next week, if that helps"); "I'm at X" without a job
word is not an employer ("I'm at Starbucks now", "I'm at Disneyland, been here two days") and
"I'm with X" never is ("I'm with Tom"), nor "I've been with X" without a job word ("I've been
with Tom for five years"); "I joined X" is not one for platforms (Twitter, Strava, ...), people
("I joined Anna for lunch"; but "I joined Anna." passes) or anything not written as a name ("a
gym"), and "I switched to X" never is without a job word ("I switched to Linux"); "a long day
at X" needs a sign of work ("Long day at Disneyland, the kids loved it" is none), "I do X for
Y" a kind of work that is paid ("I do volunteer work for Oxfam" is none), and an office's
address is no employer ("our office at Canary Wharf"); a place is never a department,
technology, state or organisation ("I'm in IT / Marketing / love", "we moved to Kubernetes",
"Evergreen Health"). A pet's name needs the speaker's pet ("my / our <pet>", "I / we have /
adopted ... a <pet>", "(I / we) renamed the <pet>", a renaming with "now"): "the dog's name is
Rex", "the dog is called Rex", a pet's breed ("I have a dog, Labrador"), a name spoken to
("Thanks Tom my dog and I ...", "I told Anna my dog ...") and a name in the next sentence ("I
got a puppy. Her name is Luna.") are skipped, as are answers split from their question by a "?"
other than "Favourite X? Y" and "X? Love it". A one-word name opening the sentence is read as a
food or drink ("Tom doesn't agree with me." gives ``likes:tom`` no, and so does "Tom is
disgusting.": an opinion read as a taste). Idioms that need world knowledge stay out: "I'm off
X", "X and I don't get along", "X is a no for me". Guesses that can go wrong: "I'm in X" with a
background cue and "we're in X now" read a trip with no trip word as a home ("We're in Rome now
and it's raining"), as "I'm in X now" does; a flat one owns with nothing said of a second home
is the home; a brand outside a short list in "I'm a X girl through and through" is read as a
place; a person after "I'm a <job> with" or "I do <work> for" is read as an employer ("I'm a
teacher with Tom"), and a client as one; "I've moved over to X" without an organisation suffix
is a move ("I've moved over to Pied Piper" gives ``lives_in``); "it" is only resolved from
"used to <like> X", "tried / had X again", "gave X another try" and "changed my mind about X"
in the same sentence. A place or employer starting with a/an/my/this/... or "the <lower-case
word>" ("I live in a small flat", "I moved to the suburbs", "I'm working at the weekend") or
holding a verb ("Living in Berlin must be expensive") is skipped as too vague to fill the slot.
Values are cut at the first "and" only when a new clause follows, so "Procter and Gamble"
survives but "hiking and swimming" is one ``likes`` slot. A pronoun object ("I love it", "I
like your idea", "I love making this") is skipped. Objects longer than ``MAX_VALUE_WORDS``
words are skipped, and words that qualify a statement (a duration, "quit", a job word, the
speaker's pet ...) count only within 400 characters of it. Precision is preferred to recall:
a wrong fact supersedes a right one, a missed one only leaves the old one standing.

**episodic** (user messages): a first-person *past* clause, "I <verb-ed / irregular past> ..."
or "we <...>", is an event when its sentence has a time expression (``timeexpr``: "yesterday",
"last week", "on Sunday", "in May 2023", ...) or its verb is an event verb (went, visited,
met, moved, started, finished, bought, got married, ...). ``content`` is the clause from the
subject to the clause end, in the third person, without the time expressions ("Sam went to the
dentist."; "we" becomes "<speaker> and others"); ``occurred_at`` is the *start* of the first
time window of the clause (else of the sentence) resolved against the message timestamp ("last
week" -> that week's Monday 00:00), else the message timestamp, else None. Without a timestamp
the time expression is kept in ``content`` (nothing else records it). ``fields``: event_type
``"user_event"``, summary = content, details = the original sentence, actor ``"user"``.
Limits: tense is guessed from the verb form alone ("-ed" words and a list of irregular pasts);
negated ("I didn't go"), perfect ("I've been to Rome"), "I was born ..." (a fact) and
third-party events are skipped; a clause without its own time expression takes the sentence's
first one. A fact-like past event also yields its fact ("I moved to Berlin last year" is an
event and ``lives_in``).

**procedural** (any role): a block of two or more consecutive numbered lines ("1.", "2)",
"Step 3:") or bullet lines ("-", "*", "•"), blank lines allowed in between and indented
lines continuing the previous step; bullet lists only count when the line before them
announces steps (how, steps, instructions, guide, recipe, procedure, process, workflow,
routine, follow, "To <do> ...:") or most of their items start with an imperative verb from a
list. Also inline sequences in one paragraph: "first X, then Y, (next Z,) finally W" where
"first" starts a sentence or clause and the first step is not in the past tense (that is a
story, not a procedure). ``fields``: entry_type ``"guide"``, summary = the last sentence of
the line before the list without "Sure!"/"Here's" and the colon (or the text before "first",
or the sentence before it; else the first step), steps (at most 500). ``content`` = "<summary>: (1)
step; (2) step; ...". Limits: lists of plain items ("- apples") may pass when introduced by
an announcing line; nested sub-lists are flattened into their parent step.

**resource** (any role): every distinct http(s) URL. ``fields``: uri (without any
``user:password@``), title (the text of a Markdown link ``[title](url)``, or a short label
before the URL such as "Docs: https://..." without "Here's"; else the host without ``www.``),
summary (the line containing the URL), resource_type ``"link"``; content "<Speaker> shared a
link to <title>: <uri>". Limits: URLs end at whitespace, quotes, brackets and ``)`` (so
Wikipedia-style parentheses are cut); bare domains ("example.com") are not links.

**knowledge_vault** (user messages; secrets are *redacted* from every message first, so no
other extraction can carry them):

* labelled: "my/our/the [<service>] password|passcode|pin|code|api key|token|secret|... is X",
  "set/changed my [<service>] password to X", and assignments ``NAME=value`` / ``NAME: value``
  where NAME contains key/token/secret/password/pwd (env files, URL queries);
* recognisable keys anywhere: OpenAI/Anthropic ``sk-...``, Stripe ``sk_live_...``, GitHub
  ``ghp_...``/``github_pat_...``, GitLab ``glpat-...``, AWS ``AKIA...``, Slack ``xox?-...``,
  Google ``AIza...``, Hugging Face ``hf_...``, JWTs, PEM private keys;
* generic tokens: 20+ characters of letters and digits (hex/base64 alphabet, no ``_``/``-``;
  30+ when they hold ``/`` or ``+``) with at least 3 of each and not a word followed by a
  number. Git commit hashes and base64 blobs match too: they are stored as tokens.

``secret`` = the value; ``content`` = ``fields.caption`` = "<Speaker>'s <label>" ("Sam's
GitHub token", "The user's wifi password"); entry_type ``password``, ``pin``, ``api_key``,
``token``, ``private_key`` or ``secret``; sensitivity ``"high"`` except ``pin`` (PINs and
numeric codes: ``"medium"``); source "<subject> on <date>" (or "conversation"); attribute
``"secret:<label>"`` and value None (the value would leak the secret: callers must compare
secrets themselves, since two entries with the same label look like a reinforcement to
``update_decision``). A password value is one token (quoted values may hold any characters but
quotes), without trailing sentence punctuation (".,;:!?") unless quoted; PINs are 3-12
digits; labelled keys/tokens need 8+ characters and (a digit, a symbol or 16+ characters); a
list of common words ("weak", "expired", "in", ...) is never a secret. If the secret occurs in
the caption, subject or attribute anyway (a password equal to the label), a generic caption is
used, and the entry is dropped if even that would leak it. Limits: secrets in URL paths
(webhook URLs) and unlabelled low-entropy secrets ("hunter2" alone) are not recognised;
redaction replaces every occurrence (as a whole token) with ``[redacted]`` in all messages, so a
PIN "1234" is also masked in "I ran 1234 metres".

Finally, identical extractions of one message (type, lower-cased content, attribute, value,
secret) are deduplicated: the first one is kept. The same statement in two messages is kept
twice (it was said twice; the caller decides what a repeat means).

Timestamps should be timezone-aware; a naive one is read as UTC.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from memsvc.algorithms.sentences import split_sentences
from memsvc.algorithms.timeexpr import find_time_windows, strip_time_expressions

__all__ = [
    "KNOWLEDGE_VAULT",
    "MAX_VALUE_WORDS",
    "REDACTED",
    "Extracted",
    "Message",
    "aware",
    "extract",
    "redact",
]

MAX_VALUE_WORDS = 6
"""A slot value longer than this many words is not a crisp fact: skipped."""

REDACTED = "[redacted]"
"""What replaces a secret in every message before anything else is extracted."""

SEMANTIC = "semantic"
EPISODIC = "episodic"
PROCEDURAL = "procedural"
RESOURCE = "resource"
KNOWLEDGE_VAULT = "knowledge_vault"


@dataclass(frozen=True)
class Message:
    role: str
    content: str
    name: str | None = None
    timestamp: datetime | None = None  # timezone-aware; naive is read as UTC


@dataclass(frozen=True)
class Extracted:
    memory_type: str  # semantic | episodic | procedural | resource | knowledge_vault
    content: str  # a standalone third-person statement (never a vault secret)
    subject: str  # who it is about, lower case: the speaker's name or "user"
    attribute: str | None  # slot for update detection ("lives_in", "likes:coffee", ...)
    value: str | None  # the slot's value, lower case ("berlin")
    fields: dict[str, Any]  # valid for the type's schema (memsvc.domain.fields)
    occurred_at: datetime | None  # events: resolved time; else the message time
    message_index: int  # which message it came from
    secret: str | None = None  # knowledge_vault only: the secret value


# ------------------------------------------------------------------------------ speakers


@dataclass(frozen=True)
class _Speaker:
    display: str  # "Sam" or "The user"
    subject: str  # "sam" or "user"

    @property
    def possessive(self) -> str:
        return f"{self.display}'s"


def _speaker(name: str | None) -> _Speaker:
    label = " ".join((name or "").split())
    if not label:
        return _Speaker("The user", "user")
    return _Speaker(label, label.lower())


_USER_ROLES = frozenset({"user", "human"})
_ASSISTANT_ROLES = frozenset({"assistant", "ai", "bot"})
_ASSISTANT = "The assistant"

# ------------------------------------------------------------------------------ text helpers

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "`": "'"})
_FIRST_PERSON = {
    "i": "they",
    "me": "them",
    "my": "their",
    "mine": "theirs",
    "myself": "themselves",
    "i'm": "they're",
    "i've": "they've",
    "i'd": "they'd",
    "i'll": "they'll",
    "we": "they",
    "us": "them",
    "our": "their",
    "ours": "theirs",
    "ourselves": "themselves",
    "we're": "they're",
    "we've": "they've",
}
_FIRST_PERSON_RE = re.compile(
    r"\b(?:i'm|i've|i'd|i'll|we're|we've|ourselves|myself|mine|ours|our|us|we|me|my|i)\b",
    re.IGNORECASE,
)
_WORD_RE = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


def _words(text: str) -> list[str]:
    return _WORD_RE.findall(text.lower())


def _third_person(text: str) -> str:
    def swap(m: re.Match[str]) -> str:
        word = m.group(0)
        return word if word == "US" else _FIRST_PERSON[word.lower()]

    return _FIRST_PERSON_RE.sub(swap, text)


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def _norm(text: str) -> str:
    """A value or attribute key: lower case, whitespace collapsed, edge punctuation and one
    leading article removed."""
    out = " ".join(text.lower().split()).strip(" .,;:!?\"'()[]*_")
    out = re.sub(r"^(?:a|an|the)\s+(?=\S)", "", out)
    return out


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip(" ,;:-")


# Emoji and pictographs: never part of a value ("Lisbon 🎉").
_EMOJI = "\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\ufe0f\u200d"
# Where a value's clause ends.
_CLAUSE_END = re.compile(
    r"\s*(?:[,;:!?()\[\]\"“”—–" + _EMOJI + r"]|\s-\s|\.(?:\s|$))"
    r"|(?<!\ba)(?<!\bgood)(?<!\blittle)\s+while\b"
    r"|\s+(?:but|because|since|although|though|whereas|which|who|whom|whose|where|when|"
    r"whenever|if|unless|until|so\s+that|as\s+well\s+as|plus)\b"
    r"|\s+(?:and|so|or)\s+(?=(?:i|i'm|i've|i'd|i'll|im|my|we|we're|we've|he|she|they|it|it's|"
    r"you|also|then|now|but|that's|this)\b)",
    re.IGNORECASE,
)
_TRAILING_FILLER = re.compile(
    r"(?:\s+(?:now|anymore|any\s+more|too|as\s+well|also|currently|these\s+days|nowadays|"
    r"at\s+the\s+moment|right\s+now|though|actually|lol|haha|a\s+lot|so\s+much|very\s+much|"
    r"really|still|either|anyway|btw|fyi|imo|imho|for\s+(?:now|good|sure)|after\s+all|lately|"
    r"recently|instead|"
    r"again|honestly|personally|for\s+(?:me|us)|to\s+me|by\s+far|hands\s+down|of\s+all|"
    r"in\s+the\s+end|at\s+last|at\s+present|for\s+the\s+(?:time\s+being|moment)|tbh|"
    r"(?:and\s+)?(?:it\s+)?always\s+(?:has\s+been|have\s+been|will\s+be)|"
    r"i\s+think|i\s+guess|i\s+reckon|i\s+suppose|i'd\s+say|to\s+be\s+honest|"
    r"if\s+i'm\s+(?:being\s+)?honest|"
    r"all\s+(?:my|our)\s+li(?:fe|ves)|(?:for\s+)?(?:my|our)\s+whole\s+li(?:fe|ves)|"
    r"for\s+(?:years|ages|decades|months|a\s+while|a\s+(?:long|good)\s+(?:time|while)|"
    r"some\s+time)|"
    r"for\s+(?:about\s+|over\s+|almost\s+|nearly\s+|around\s+|more\s+than\s+|"
    r"the\s+(?:past|last)\s+)?"
    r"(?:\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|a\s+few|few|several|many|"
    r"some|a\s+couple\s+of)\s+(?:days?|weeks?|months?|years?|decades?)))+$",
    re.IGNORECASE,
)
# Hedges, interjections and time adverbs in front of a value or a clause ("I'd say", "honestly",
# "lately", "now"): never part of the value.
_LEAD_FILLER = re.compile(
    r"^(?:(?:honestly|actually|seriously|frankly|personally|basically|really|well|so|oh|ok|okay|"
    r"yeah|yes|also|now|lately|recently|currently|still|these\s+days|nowadays|right\s+now|"
    r"at\s+the\s+moment|somehow|surprisingly|apparently|(?:it\s+)?turns\s+out(?:\s+that)?|"
    r"probably|definitely|easily|clearly|obviously|undoubtedly|officially|always|just|"
    r"by\s+far|hands\s+down|without\s+(?:a|any)\s+doubt|for\s+sure|of\s+course|tbh|imo|"
    r"to\s+be\s+honest|if\s+i'm\s+(?:being\s+)?honest|in\s+my\s+opinion|for\s+me|to\s+me|"
    r"(?:i\s+(?:think|guess|reckon|suppose|believe|feel\s+like|admit|must\s+say|"
    r"have\s+to\s+(?:say|admit)|gotta\s+say|know)|i'd\s+say|i\s+would\s+say)(?:\s+that)?)"
    r"\b[\s,]*)+",
    re.IGNORECASE,
)


def _unhedge(text: str) -> tuple[int, str]:
    """``text`` without leading hedges and fillers, and how many characters were dropped."""
    m = _LEAD_FILLER.match(text)
    return (m.end(), text[m.end() :]) if m else (0, text)


# How far around a trigger a value is looked for, in characters.
_WINDOW = 400


def _window_start(text: str, end: int) -> int:
    """Where to start reading back from ``end``: at most ``_WINDOW`` characters before it, at a
    word boundary."""
    if end <= _WINDOW:
        return 0
    at = text.find(" ", end - _WINDOW, end)
    return at + 1 if at >= 0 else end - _WINDOW


def _clause(rest: str, stops: re.Pattern[str] | None = None, *, keep_time: bool = False) -> str:
    """``rest`` up to the end of its clause (and the first of ``stops``), without trailing
    fillers and (unless ``keep_time``) time expressions."""
    rest = rest[:_WINDOW]  # a value is a few words: no need to read on (and stay linear)
    m = _CLAUSE_END.search(rest)
    body = rest[: m.start()] if m else rest
    if stops is not None:
        s = stops.search(body)
        if s:
            body = body[: s.start()]
    body = body.strip(" ,;:.!?\"'“”‘’*_")
    for _ in range(3):
        before = body
        body = _TRAILING_FILLER.sub("", body)
        if not keep_time and find_time_windows(body, _PROBE_REF):
            body = strip_time_expressions(body)
        body = body.strip(" ,;:.!?\"'“”‘’*_")
        if body == before:
            break
    return body


_PROBE_REF = datetime(2000, 6, 15, 12, tzinfo=UTC)

# ------------------------------------------------------------------------------ blockers

_QUESTION_OPENERS = frozenset(
    """do does did am is are was were can could would should will shall have has had may
    might must what where when why how who which whom whose isn't aren't don't doesn't didn't
    wasn't weren't won't wouldn't can't couldn't shouldn't haven't hasn't""".split()
)
_HYPOTHETICAL = frozenset(
    """if unless suppose supposing imagine imagining pretend pretending hypothetically whether
    assuming assume wish wished hope hoped dream dreamed dreamt fantasize fantasise
    otherwise""".split()
)
_IMMEDIATE_BLOCKERS = frozenset(
    """when whenever where what how why who which do does did can could would should maybe
    perhaps once before after till until""".split()
)
_CLOSERS = "\"'”’)]* "


_QUESTION_SUBJECTS = frozenset(
    """i you we he she it they there this that these those my your his her our their anyone
    anybody someone somebody everyone everybody any""".split()
)


def _is_question(sentence: str) -> bool:
    body = sentence.rstrip(_CLOSERS)
    if body.endswith("?"):
        return True
    words = _words(sentence)
    relaxed = words[0].endswith("n't") or words[0] in ("had", "have", "has") if words else False
    if len(words) > 1 and relaxed and words[1] not in _QUESTION_SUBJECTS:
        return False  # "Can't get enough of olives", "Had sushi again": "I" left out
    return bool(words) and words[0] in _QUESTION_OPENERS


# "If I'm honest" and "if you ask me" are hedges, not conditions.
_NOT_CONDITION = re.compile(
    r"\bif\s+(?:i'm|i\s+am)\s+(?:being\s+)?honest\b|\bif\s+you\s+ask\s+me\b"
    r"|\bif\s+i\s+(?:had|have|were)\s+to\s+(?:pick|choose|name|say)\b(?:\s+(?:just\s+)?one\b)?",
    re.IGNORECASE,
)
# "If I had to pick (one), ...": a hedge before a favourite, no condition.
_PICK_HEDGE = re.compile(
    r"\bif\s+i\s+(?:had|have|were)\s+to\s+(?:pick|choose|name|say)\b", re.IGNORECASE
)
_CLAUSE_START = re.compile(
    r"[,;:!?—–]|\b(?:but|and|now|whereas|while|though|although|these\s+days|nowadays)\b",
    re.IGNORECASE,
)
_USED_TO = re.compile(r"\b(?:used\s+to|would\s+always)\b", re.IGNORECASE)


@dataclass(frozen=True)
class _Blockers:
    """Where in a sentence the words that block a statement after them are (read once per
    sentence: a long sentence with many statements stays linear)."""

    quote: int  # the first double quotation mark (or -1)
    word_ends: list[int]  # the end of each word, hedges ("if I'm honest") left out
    words: list[str]
    hypothetical: int  # the end of the first hypothetical word (or -1)
    clause_ends: list[int]  # the end of each clause start ("but", ",", "now" ...)
    used_to: list[tuple[int, int]]  # (start, end) of each "used to"


@lru_cache(maxsize=64)
def _blockers(sentence: str) -> _Blockers:
    quotes = [i for i in (sentence.find('"'), sentence.find("“")) if i >= 0]
    hedges = [(m.start(), m.end()) for m in _NOT_CONDITION.finditer(sentence)]

    def free(i: int) -> bool:
        return not any(a <= i < b for a, b in hedges)

    tokens = [m for m in _WORD_RE.finditer(sentence) if free(m.start())]
    words = [m.group(0).lower() for m in tokens]
    hypo = next((m.end() for m, w in zip(tokens, words, strict=True) if w in _HYPOTHETICAL), -1)
    return _Blockers(
        quote=min(quotes, default=-1),
        word_ends=[m.end() for m in tokens],
        words=words,
        hypothetical=hypo,
        clause_ends=[m.end() for m in _CLAUSE_START.finditer(sentence) if free(m.start())],
        used_to=[(m.start(), m.end()) for m in _USED_TO.finditer(sentence)],
    )


def _blocked(sentence: str, start: int) -> bool:
    """Whether a statement starting at ``start`` is hypothetical, subordinate, quoted or a past
    habit ("I used to call my dog Rex")."""
    b = _blockers(sentence)
    if 0 <= b.quote < start:
        return True
    n = bisect_right(b.word_ends, start)
    if n and b.words[n - 1] in _IMMEDIATE_BLOCKERS:
        return True
    if 0 <= b.hypothetical <= start:
        return True
    k = bisect_right(b.clause_ends, start)
    clause_at = b.clause_ends[k - 1] if k else 0
    return any(clause_at <= a and e <= start for a, e in b.used_to)


# ------------------------------------------------------------------------------ vocabulary

_ADV = (
    r"(?:(?:also|still|now|currently|actually|just|really|both|already|finally|recently|"
    r"originally|officially|happily|proudly|definitely|honestly|totally|truly|absolutely|"
    r"genuinely|so|do)\s+)*"
)
_I_AM = r"(?:\bi(?:'m|\s+am)|\bim)"
_PRONOUN_FIRST = frozenset(
    """it that this these those them you your yours him her hers his what how which who whom
    when where why so too there here myself me us ourselves yourself everything something
    anything nothing everyone someone anyone one ones whatever""".split()
)
_VAGUE_DETERMINERS = frozenset(
    "a an my our your his her their this that these those some another any".split()
)
_MONTH_NAMES = frozenset(
    "january february march april may june july august september october november december"
    " jan feb mar apr jun jul aug sep sept oct nov dec".split()
)
_WEEKDAYS = frozenset("monday tuesday wednesday thursday friday saturday sunday".split())
_TIME_WORDS = frozenset(
    "today tomorrow yesterday tonight later soon now morning evening night noon midnight".split()
)
_COUNTS = {
    "a": "yes",
    "an": "yes",
    "one": "yes",
    "two": "two",
    "three": "three",
    "four": "four",
    "five": "five",
    "six": "six",
    "seven": "seven",
    "eight": "eight",
    "nine": "nine",
    "ten": "ten",
}
_COUNT_ALT = r"an?|one|two|three|four|five|six|seven|eight|nine|ten|\d{1,2}"

_PETS = (
    "guinea pig|goldfish|dog|cat|puppy|pup|kitten|hamster|rabbit|bunny|parrot|bird|fish|horse|"
    "pony|turtle|tortoise|snake|lizard|ferret|gerbil|chinchilla|pet"
)
_KIN = (
    "best friend|wife|husband|partner|girlfriend|boyfriend|fiancee|fiancée|fiance|fiancé|son|"
    "daughter|brother|sister|mom|mum|mother|dad|father|grandma|grandpa|grandmother|grandfather|"
    "boss|manager|roommate|flatmate|baby|twin"
)
_NAMED = _PETS + "|" + _KIN

_JOB_WORDS = frozenset(
    """nurse chef doctor lawyer engineer developer programmer designer architect teacher
    professor lecturer student scientist researcher analyst consultant accountant manager
    director pilot dentist pharmacist therapist psychologist psychiatrist surgeon physician
    paramedic firefighter officer soldier farmer baker butcher carpenter plumber electrician
    mechanic technician writer author journalist editor photographer artist musician singer
    actor actress dancer painter sculptor librarian veterinarian vet cashier waiter waitress
    bartender barista driver cook clerk secretary receptionist salesperson entrepreneur
    founder ceo cto cfo coo intern freelancer contractor translator interpreter economist
    biologist chemist physicist mathematician statistician historian coach trainer tutor
    nanny caregiver housekeeper cleaner janitor guard judge banker broker realtor agent
    attorney paralegal dietitian nutritionist optometrist optician midwife radiologist
    surveyor geologist sysadmin administrator specialist executive assistant lead supervisor
    coordinator strategist marketer recruiter producer filmmaker comedian magician
    politician diplomat priest pastor rabbi imam monk nun postdoc apprentice housewife
    homemaker technologist pediatrician paediatrician electrician beautician hairdresser
    stylist counselor counsellor social worker""".split()
)
_NOT_JOB = frozenset(
    """believer learner beginner lover member user customer mother father brother sister
    daughter grandmother grandfather partner runner swimmer reader gamer thinker dreamer
    worrier talker listener drinker smoker eater sleeper follower supporter newcomer
    foreigner outsider insider stranger winner loser other number cancer fighter survivor
    visitor neighbor neighbour sucker junior senior major minor cyclist optimist pessimist
    perfectionist minimalist idealist realist feminist atheist extremist purist hobbyist
    tourist traveller traveler hiker climber skier surfer gardener player boomer owner
    homeowner lover fan nerd geek person guy girl woman man kid teenager adult parent mom
    dad wife husband twin introvert extrovert vegetarian vegan christian catholic muslim
    jew buddhist hindu sagittarius capricorn aquarius pisces aries taurus gemini leo virgo
    libra scorpio fixer helper doer""".split()
)
_NOT_JOB_FIRST = frozenset(
    """big huge bit little lot great real true total complete firm strong fast slow quick
    good bad terrible awful decent massive proud happy lucky hopeless heavy light picky
    messy careful avid keen passionate casual amateur aspiring wannabe former ex retired
    self-taught wannabe hopeful would-be future night morning early late lifelong
    kind sort type fan""".split()
)
_HAS_SKIP = frozenset(
    """question questions problem problems issue issues idea ideas feeling lot lots few
    couple bit meeting appointment call favour favor quick suggestion request doubt doubts
    minute minutes moment chance look plan plans deadline headache cold fever flu cough
    good great hard tough busy long date party test exam interview presentation class
    lesson shift day days week weekend trip flight reservation booking hunch theory point
    sense right choice question lot sec second hour hours thought thoughts concern concerns
    dream dreams way""".split()
)
_NOT_SECRET = frozenset(
    """here below above attached the a an my your in on at not still same different wrong
    correct incorrect invalid expired weak strong secure insecure safe unsafe long short
    simple complicated complex easy hard forgotten lost changed saved stored required
    broken missing empty blank fine ok okay good bad new old reset there very really also
    now set being updated compromised leaked stolen working too so what how something
    nothing unknown secret private written encrypted hashed done mine yours this that it
    null none n/a needed valid sent shared public""".split()
)
_MENTAL_AFTER_TO = frozenset(
    """think say believe imagine point ask mention add know remind clarify note hear see
    complain brag boast interrupt bother impose rush pry intrude gossip assume judge
    admit""".split()
)
_IRREGULAR_PAST = frozenset(
    """went ran saw met had got took made bought ate drank came left flew drove found gave
    wrote read won lost began became broke caught did fell felt forgot heard held kept knew
    led lent paid rode sang sat sent slept spent spoke stood swam taught told thought threw
    understood woke wore brought built chose dug drew fed fought forgave froze grew hid hit
    hurt lay lit meant quit rang rose sold shot shut sank slid stole stuck struck swore swept
    swung tore wept withdrew was were agreed freed became overslept undertook""".split()
)
_EVENT_VERBS = frozenset(
    """went visited attended met ran bought moved started finished graduated travelled
    traveled flew drove adopted married won celebrated completed joined quit hiked climbed
    baked cooked watched saw played hosted organized organised volunteered competed performed
    presented published launched released retired resigned enrolled applied interviewed
    proposed returned arrived landed received earned sold booked signed passed failed broke
    injured sprained hurt lost began took had gave wrote painted built renovated camped
    toured explored swam biked cycled skied surfed danced sang learned learnt taught
    donated delivered defended submitted""".split()
)
_GOT_EVENT = re.compile(
    r"^\s+(?:married|engaged|divorced|promoted|hired|fired|laid\s+off|back|home|a\s+new|"
    r"my\s+first|into|accepted|vaccinated|sick|a\s+(?:puppy|dog|cat|kitten)|tickets)\b",
    re.IGNORECASE,
)
_IMPERATIVES = frozenset(
    """add open run install click go take mix stir put set create make copy paste type
    enter select choose press restart reboot close save download upload check make sure
    ensure remove delete update configure connect disconnect plug unplug wait boil heat bake
    cook pour cut chop preheat place fill write read call send navigate log sign start stop
    build deploy push pull commit clone test verify edit change move drag drop use apply
    turn enable disable login logout fold cover serve season whisk combine let keep review
    find search scroll tap press hold back""".split()
)

# ------------------------------------------------------------------------------ semantic rules

# A first-person subject left out: at the start of a sentence ("Just moved to Oslo!", "Living
# in Rome now") or after "and" in a clause whose subject is I/we ("I left X and joined Y").
_ELIDED_START = re.compile(
    r"^(?P<adv>(?:(?:just|finally|recently|also|now|currently|officially|happily|so|and|"
    r"honestly|actually)\s+)*)(?:(?P<past>moved|relocated|settled|started|joined|switched|"
    r"renamed|named|changed|ended\s+up|decided|adopted|landed|accepted|"
    r"got\s+(?:hired|a\s+(?:new\s+)?job)|fell|came\s+round|came\s+around|went\s+off)|(?P<ing>living|based|working|employed)|"
    r"(?P<been>been\s+(?:living|working|based|at|in)))\b"
    # ("Living in fear", "Working at the weekend": only before a name)
    r"(?(past)|(?=(?:\s+\w+){0,1}?\s+(?:in|at|for|by|out\s+of|in)?\s*(?:the\s+)?(?-i:[A-Z])))",
    re.IGNORECASE,
)
# A stance with its "I'm" / "I" left out: "Not into ramen these days", "Big tacos fan here",
# "Can't get enough of olives", "Not a fan of curry, sorry".
_ELIDED_STANCE = re.compile(
    r"^(?P<adv>(?:(?:honestly|really|so|just|also|and|but|tbh|lol|ok|okay|well|yeah|nah|"
    r"seriously)\s*,?\s+)*)(?:(?P<am>(?:not|no\s+longer)\s+(?:(?:really|that|too|so|exactly|"
    r"particularly|a\s+huge|a\s+big|a\s+massive)\s+)*(?:into|a\s+fan\s+of|fan\s+of|keen\s+on|"
    r"fond\s+of|big\s+on)|(?:really|totally|super|so|seriously)\s+into|(?:a\s+)?(?:big|huge|massive|"
    r"total|die-hard|diehard|lifelong)\s+(?:fan\s+of\b|[\w'-]+(?:\s+[\w'-]+)?\s+fan\b)|"
    r"obsessed\s+with|crazy\s+about|hooked\s+on|(?:so\s+)?sick\s+of|(?:so|totally)\s+over)"
    r"|(?P<i>(?:(?:really|absolutely|totally|honestly)\s+)?(?:can't|cannot)\s+(?:stand|get\s+enough\s+of)|"
    r"(?:really\s+)?(?:don't|do\s+not)\s+(?:really\s+|particularly\s+)?(?:like|enjoy)|"
    r"(?:really|absolutely|totally|genuinely)\s+(?:love|like|enjoy|adore|hate)|never\s+liked|"
    r"always\s+(?:loved|liked|hated)))\b",
    re.IGNORECASE,
)
_ELIDED_AND = re.compile(
    r"\band\s+(?:then\s+)?(?=(?:(?:now|just|recently|finally|also)\s+)*(?:joined|moved|"
    r"relocated|settled|started|switched|renamed|named|adopted|landed|accepted|work|live|"
    r"got\s+(?:hired|a\s+(?:new\s+)?job))\b)",
    re.IGNORECASE,
)
_CLAUSE_SUBJECT = re.compile(
    r"(?:^|[,;:]\s*)(?P<s>i|we)(?:'ve|'m|\s+have)?\s+(?![,;:])[^,;:]*$", re.IGNORECASE
)
# Another subject between "I" and "and": "I think my sister left and moved to Rome".
_OTHER_SUBJECT = re.compile(
    r"\b(?:he|she|they|you|who|that|think|thought|said|says|told|heard|know|knew|believe|guess|"
    r"(?:my|our)\s+(?:" + _KIN + r"|friends?|parents|kids|children))\b",
    re.IGNORECASE,
)


def _with_subjects(sentence: str) -> tuple[str, Callable[[int], int]]:
    """``sentence`` with left-out first-person subjects put back, and a map from positions in
    the new text to positions in ``sentence``."""
    inserts: list[tuple[int, int]] = []  # (position in the new text, length inserted)
    out = sentence
    m = _ELIDED_START.match(out)
    st = None if m else _ELIDED_STANCE.match(out)
    if m and not re.match(r"(?:i|we)\b", out, re.IGNORECASE):
        subject = "I've " if m["been"] else "I'm " if m["ing"] else "I "
        at = m.end("adv")
        out = out[:at] + subject + out[at:]
        inserts.append((at, len(subject)))
    elif st:
        subject = "I'm " if st["am"] else "I "
        at = st.end("adv")
        out = out[:at] + subject + out[at:]
        inserts.append((at, len(subject)))
    pos = 0
    while True:
        a = _ELIDED_AND.search(out, pos)
        if not a:
            break
        head = _CLAUSE_SUBJECT.search(out[: a.start()])
        pos = a.end()
        if head and not _OTHER_SUBJECT.search(out, head.end("s"), a.start()):
            subject = head["s"] + " "
            out = out[: a.end()] + subject + out[a.end() :]
            inserts.append((a.end(), len(subject)))
            pos += len(subject)

    def back(at: int) -> int:
        shift = sum(n for p, n in inserts if p < at)
        return max(0, at - shift)

    return out, back


@dataclass(frozen=True)
class _Fact:
    start: int
    attribute: str
    value: str
    content: str
    relation: str
    tail: str


# A rule reads one sentence (its speaker, the message time and the whole message as context).
_Rule = Callable[[str, _Speaker, datetime | None, str], Iterator[_Fact]]
_RULES: list[_Rule] = []


def _rule(fn: _Rule) -> _Rule:
    _RULES.append(fn)
    return fn


def _ok_value(value: str, *, max_words: int = MAX_VALUE_WORDS) -> bool:
    words = _words(value)
    return 0 < len(words) <= max_words and words[0] not in _PRONOUN_FIRST and REDACTED not in value


# Words that make a "place" a clause ("Living in Berlin must be expensive").
_VERBISH = frozenset(
    """is are was were be been am must would will can could should might shall sounds seems
    looks feels sucks rocks means""".split()
)


def _ok_place(value: str) -> bool:
    """A place or organisation specific enough to fill a slot."""
    if not _ok_value(value) or any(w in _VERBISH for w in _words(value)):
        return False
    parts = value.split()
    first = parts[0].lower()
    if first in _VAGUE_DETERMINERS or first in _TIME_WORDS or first[:1].isdigit():
        return False
    return not (first == "the" and (len(parts) < 2 or parts[1][:1].islower()))


def _fact(start: int, attribute: str, value: str, content: str) -> _Fact:
    """A fact; its triple (relation, tail) for the semantic fields: ``likes:coffee`` = yes is
    (likes, coffee), = no is (not_likes, coffee); ``has:cat`` = two is (has, two cat); any
    other slot is (attribute, value)."""
    prefix, sep, obj = attribute.partition(":")
    if sep and value in ("yes", "no"):
        relation, tail = (prefix if value == "yes" else f"not_{prefix}"), obj
    elif sep and prefix == "has":
        relation, tail = "has", f"{value} {obj}"
    else:
        relation, tail = attribute, value
    return _Fact(start, attribute, value, _cap(content), relation, tail)


# Words that start a sentence with a capital letter without being a name.
_NOT_PROPER = frozenset(
    """i i'm i've i'd i'll it it's this that these those there here he she they we you my our
    your his her their its the a an and but or so because also plus then well oh ok okay yes
    yeah no hey hi hello sorry thanks honestly actually basically anyway seriously sadly luckily
    unfortunately fortunately obviously personally literally frankly apparently hopefully
    currently recently lately meanwhile today yesterday tomorrow tonight now still again however
    besides otherwise instead finally generally usually normally really definitely probably
    clearly surely right sure great cool nice wow ugh lol haha alas ah um uh er hmm look listen
    see btw fyi greetings cheers dear love life home work nothing everything something
    everyone someone guess turns wish hope maybe perhaps""".split()
)
# Lower-case words that may sit inside a place or organisation name.
_NAME_LINKS = frozenset(
    "of de del della di da do du la le les los las am der den von van upon on en y and & the"
    " sur".split()
)


def _proper(value: str) -> bool:
    """Whether ``value`` is written as a name ("New York", "the Netherlands", "Rio de Janeiro",
    "Procter and Gamble") and does not start with a word that is rarely one ("Honestly")."""
    words = value.split()
    if words and words[0].lower() == "the":
        words = words[1:]
    if not words or not words[0][:1].isupper() or words[0].lower() in _NOT_PROPER:
        return False
    low = words[0].lower().strip(".,")
    if low in _MONTH_NAMES or low in _WEEKDAYS:
        return False
    return all(w[:1].isupper() or w[:1].isdigit() or w.lower() in _NAME_LINKS for w in words)


_PROPER_TAIL = re.compile(
    r"(?:(?<=\s)|^)(?P<p>[A-Z][\w'.&-]*(?:\s+(?:[A-Z][\w'.&-]*|of|de|del|da|do|du|la|le|am|y|"
    r"upon|and))*)\s*$"
)


_INTRODUCING = frozenset("meet welcome introducing presenting say greet".split())


def _proper_before(sentence: str, end: int) -> tuple[int, str] | None:
    """The name (capitalised words) that ends at ``end``: (start, name)."""
    w = _window_start(sentence, end)
    m = _PROPER_TAIL.search(sentence[w:end].rstrip(" ,"))
    if not m:
        return None
    start, name = w + m.start("p"), m["p"]
    words = name.split()
    while words and (words[0].lower() in _NOT_PROPER or words[0].lower() in _INTRODUCING):
        start += len(words[0])
        name = name[len(words[0]) :]
        start += len(name) - len(name.lstrip())
        name = name.lstrip()
        words = words[1:]
    if sentence[:start].lower().endswith("the "):
        start, name = start - 4, sentence[start - 4 : start] + name
    if not _proper(name) or len(_words(name)) > 4:
        return None
    return start, name


# Where a noun phrase before a predicate starts ("..., pizza is my favourite food").
_NP_BOUNDARY = re.compile(
    r"[,;:!?()\[\]\"“”—–]|\s-\s|\.(?:\s|$)|\b(?:but|so|because|though|although|while|whereas|"
    r"then|plus)\b",
    re.IGNORECASE,
)
_NP_AND = re.compile(r"\band\b", re.IGNORECASE)
# Words a subject noun phrase does not hold: it would be a clause ("my sister thinks pizza").
_NP_BAD = frozenset(
    """i i'm i've i'd i'll you you're he she they we it it's that's there's what's is are was
    were am be been being has have had do does did don't doesn't didn't isn't aren't wasn't not
    never think thinks thought say says said know knows knew believe believes guess guesses
    reckon reckons feel feels felt told tell tells if when whether unless because who what which
    where why how would could should might must can shall will love loves like likes hate hates
    sorry thanks yes no hey hi hello""".split()
)


def _np_before(sentence: str, end: int, *, proper: bool = False) -> tuple[int, str] | None:
    """The noun phrase that ends at ``end`` and opens its clause, hedges ("honestly", "I'd
    say", "lately") left out: (start, text). None when it is no plain noun phrase."""
    head = sentence[:end]
    w = _window_start(sentence, end)
    clause_at = max((b.end() for b in _NP_BOUNDARY.finditer(head, w)), default=w)
    starts = [clause_at] + [a.end() for a in _NP_AND.finditer(head, clause_at)]
    for at in starts:
        seg = head[at:]
        at += len(seg) - len(seg.lstrip())
        skip, np = _unhedge(head[at:])
        at += skip
        np = np.strip(" ,")
        words = _words(np)
        if not words or len(words) > MAX_VALUE_WORDS or REDACTED in np:
            continue
        if words[0] in _PRONOUN_FIRST or any(w in _NP_BAD for w in words):
            continue
        if proper and not _proper(np):
            continue
        return at, np
    return None


_NUM_WORDS = (
    r"\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|"
    r"a\s+few|few|several|many|some|a\s+couple\s+of|a\s+good\s+few"
)
# A duration that makes a perfect tense a current state ("I've lived in Oslo for five years").
_LONG_DURATION = re.compile(
    r"\bfor\s+(?:about\s+|over\s+|almost\s+|nearly\s+|around\s+|more\s+than\s+|"
    r"the\s+(?:past|last)\s+)?(?:" + _NUM_WORDS + r")\s+(?:months?|years?|decades?)\b"
    r"|\bfor\s+(?:years|ages|decades|months|a\s+(?:long|good)\s+(?:time|while)|a\s+while)\b"
    r"|\bsince\b|\bever\s+since\b|\ball\s+(?:my|our)\s+li(?:fe|ves)\b|"
    r"\b(?:my|our)\s+whole\s+li(?:fe|ves)\b",
    re.IGNORECASE,
)
# What makes a present perfect or a present tense a past or passing state instead.
_PAST_TAIL = re.compile(
    r"\b(?:until|till|before|back\s+then|as\s+a\s+(?:child|kid|student|teenager)|when\s+i\s+was|"
    r"in\s+the\s+past|once|twice|briefly|previously|years\s+ago)\b",
    re.IGNORECASE,
)
_SENTENCE_REST = re.compile(r"[.;!?](?:\s|$)")


def _after(rest: str) -> str:
    """``rest`` up to the end of its sentence part (the words a duration would be in)."""
    rest = rest[:_WINDOW]
    m = _SENTENCE_REST.search(rest)
    return rest[: m.start()] if m else rest


_FUTURE = re.compile(
    r"\b(?:will|won't|'ll|going\s+to|gonna|about\s+to|plan(?:ning)?\s+to|want\s+to|hoping\s+to|"
    r"tomorrow|next\s+(?:week|month|year|monday|tuesday|wednesday|thursday|friday|spring|summer|"
    r"autumn|fall|winter)|soon)\b",
    re.IGNORECASE,
)


_PLACE_STOPS = re.compile(
    r"\s+(?:with|near|close\s+to|next\s+to|for|as|from|to|in\s+(?:a|an|the|my|our)\b|on\s+(?:a|an|the)\b"
    r"|at\s+the\s+moment|because|and\s+(?:work|study|love|like|have))\b",
    re.IGNORECASE,
)
# Place words that are no place to live in ("I'm in IT now", "we moved to Kubernetes").
_NOT_PLACE = frozenset(
    """it hr pr qa r&d ops marketing sales finance engineering accounting legal operations
    support product design research management admin tech tech support customer service
    love trouble charge class bed school college hospital church heaven hell pain debt shock
    army navy military police government politics retail consulting banking insurance
    healthcare education academia media publishing software hardware production logistics
    aws azure gcp kubernetes k8s docker python java rust golang typescript javascript react vue
    angular node postgres postgresql mysql mongodb redis linux windows macos mac ubuntu debian
    fedora arch android ios iphone slack teams zoom jira github gitlab bitbucket notion
    confluence trello asana figma vercel heroku netlify terraform excel sheets dropbox
    salesforce hubspot spark kafka airflow snowflake databricks swift kotlin scala django flask
    rails laravel spring outlook gmail chrome firefox safari vim emacs vscode neovim wordpress
    substack medium mastodon bluesky twitter facebook instagram tiktok reddit discord whatsapp
    telegram signal linkedin youtube twitch spotify netflix""".split()
)


_NEW_CLAUSE_AFTER = re.compile(
    r"^\s+(?:i|i'm|i've|i'd|we|we're|we've|it|it's|and\s+(?:i|we|it)|but|so|things|life|everything)\b",
    re.IGNORECASE,
)


def _place(rest: str, *, proper: bool = False) -> str | None:
    """The place at the start of ``rest`` (third person), or None when it is no place to live
    in ("a small flat", "trouble", "IT"); ``proper``: only a capitalised name."""
    place = _third_person(_clause(rest, _PLACE_STOPS))
    if proper and not _proper(place):
        # "Since moving to Oslo I've been cycling more": the name before a new clause
        lead = _LEAD_NAME.match(rest)
        if lead and _NEW_CLAUSE_AFTER.match(rest[lead.end() :]):
            place = lead.group(0)
    if not _ok_place(place) or (proper and not _proper(place)):
        return None
    low = _norm(place)
    if low in _NOT_PLACE or _words(low)[0] in _NOT_PLACE or any(c.isdigit() for c in low):
        return None
    if len(_words(low)) > 1 and _ORG_SUFFIX.search(low):
        return None  # "I've moved over to Evergreen Health": an employer
    return place


def _lives_fact(start: int, sp: _Speaker, place: str) -> _Fact:
    return _fact(start, "lives_in", _norm(place), f"{sp.display} lives in {place}.")


_I_OR_WE = r"\b(?:i|we)"
_HAVE = r"(?:'ve|\s+have)"
# (pattern, only a capitalised name, needs a duration). Statements with "we" (the speaker's
# household) take capitalised names only ("we live in interesting times").
_LIVES_RES: list[tuple[re.Pattern[str], bool, bool]] = [
    (
        re.compile(
            rf"{_I_OR_WE}\s+{_ADV}(?:live|reside)\s+(?:(?:out|over|down|up)\s+)?(?:here\s+)?in\s+"
            r"(?=(?P<rest>\S.*))",
            re.IGNORECASE,
        ),
        False,
        False,
    ),
    (
        re.compile(
            rf"{_I_AM}\s+{_ADV}(?:living|residing|based|located|settled)\s+(?:in|out\s+of)\s+"
            rf"(?=(?P<rest>\S.*))|\bwe(?:'re|\s+are)\s+{_ADV}(?:living|residing|"
            r"settled)\s+in\s+(?=(?P<rest2>\S.*))",
            re.IGNORECASE,
        ),
        False,
        False,
    ),
    (
        re.compile(
            rf"{_I_OR_WE}(?:{_HAVE})?\s+{_ADV}(?:moved|relocated|made\s+the\s+(?:big\s+)?move)\s+"
            r"(?:back\s+|over\s+|house\s+|away\s+)?"
            # "moved from Rotterdam to Tokyo": the place after "to" (the one left is no home)
            r"(?:from\s+[^,;.!?]+?\s+)?(?:back\s+|over\s+)?to\s+(?=(?P<rest>\S.*))",
            re.IGNORECASE,
        ),
        False,
        False,
    ),
    # "I've been living in X (since ...)", "I've been based in X"
    (
        re.compile(
            rf"{_I_OR_WE}{_HAVE}\s+{_ADV}been\s+(?:living|residing)\s+in\s+(?=(?P<rest>\S.*))"
            rf"|\bi{_HAVE}\s+{_ADV}been\s+based\s+in\s+(?=(?P<rest2>\S.*))",
            re.IGNORECASE,
        ),
        False,
        False,
    ),
    # "I've settled in X", "I settled down in X" ("settled in nicely": names only)
    (
        re.compile(
            rf"{_I_OR_WE}(?:{_HAVE})?\s+{_ADV}settled\s+(?:down\s+)?in\s+(?=(?P<rest>\S.*))",
            re.IGNORECASE,
        ),
        True,
        False,
    ),
    # "I've lived in X for five years / since 2019 / all my life", "I've been in X for years"
    (
        re.compile(
            rf"{_I_OR_WE}{_HAVE}\s+{_ADV}lived\s+(?:(?:out|over|down|up)\s+)?(?:here\s+)?in\s+"
            r"(?=(?P<rest>\S.*))",
            re.IGNORECASE,
        ),
        False,
        True,
    ),
    (
        re.compile(rf"{_I_OR_WE}{_HAVE}\s+{_ADV}been\s+in\s+(?=(?P<rest>\S.*))", re.IGNORECASE),
        True,
        True,
    ),
    # "(my) home is X (for me) (now)", "home these days is X"
    (
        re.compile(
            r"(?:(?:^|[,;:]\s*|\b(?:and|but|so)\s+)(?:(?:now|these\s+days|nowadays)\s*,?\s*)?"
            r"home|\b(?:my|our)\s+(?:new\s+|current\s+)?(?:home|address))\s+(?:(?:for\s+(?:me|us)|these\s+days"
            r"|now|nowadays)\s+)*(?:is|'s|has\s+been)\s+(?:now\s+)?(?:in\s+)?(?=(?P<rest>\S.*))",
            re.IGNORECASE,
        ),
        True,
        False,
    ),
    # "I'm renting a flat in X", "writing from my new flat in X"
    (
        re.compile(
            rf"(?:{_I_AM}\s+{_ADV}renting|\bi\s+{_ADV}rent)\s+(?:a|an|the)\s+(?:\w+\s+)?"
            r"(?:flat|apartment|house|room|place|studio|condo)\s+in\s+(?=(?P<rest>\S.*))"
            rf"|{_I_OR_WE}(?:{_HAVE})?\s+{_ADV}moved\s+into\s+(?:a|an|the|my|our)\s+(?:new\s+)?"
            r"(?:[\w-]+\s+)?(?:flat|apartment|house|place|home|condo|studio)\s+in\s+"
            r"(?=(?P<rest4>\S.*))"
            r"|\b(?:my|our)\s+(?:(?:new|own|current|little|tiny|small|big|cosy|cozy|lovely|"
            r"shared|rented)\s+)*(?:flat|apartment|house|home|place|condo|studio|digs|pad)\s+in\s+"
            r"(?=(?P<rest2>\S.*))"
            rf"|{_I_OR_WE}(?:{_HAVE}\s+got|\s+have\s+got|\s+{_ADV}(?:have|own|share))\s+"
            r"(?:a|an)\s+(?:[\w-]+\s+){0,2}?(?:flat|apartment|house|place|condo|studio|room|"
            r"bungalow|cottage|loft|townhouse)\s+in\s+(?=(?P<rest3>\S.*))",
            re.IGNORECASE,
        ),
        True,
        False,
    ),
]
_LIVES_RES += [
    # "since moving to Oslo", "ever since we moved to Oslo"
    (
        re.compile(
            r"\b(?:since|after|ever\s+since)\s+(?:(?:i|we)\s+)?(?:moving|relocating|moved|relocated)"
            r"\s+(?:back\s+|over\s+)?to\s+(?=(?P<rest>\S.*))",
            re.IGNORECASE,
        ),
        True,
        False,
    ),
    # "New flat in Dublin is great", "the new place in Leeds"
    (
        re.compile(
            r"(?:^|[,;:!]\s*|\b(?:and|so|but)\s+)(?:the\s+)?new\s+(?:flat|apartment|house|home|place|"
            r"condo|studio|digs)\s+in\s+(?=(?P<rest>\S.*))",
            re.IGNORECASE,
        ),
        True,
        False,
    ),
]
# "I'm a Lisbon-based designer", "I'm Berlin-based"
_X_BASED_RE = re.compile(
    rf"{_I_AM}\s+{_ADV}(?:(?:a|an)\s+)?(?P<place>(?-i:[A-Z][\w'.]*(?:\s+[A-Z][\w'.]*){{0,2}}))-based\b",
    re.IGNORECASE,
)
_HOUSING = re.compile(r"\b(?:flat|apartment|house|place|home|condo|studio|digs|room)\b", re.I)
# A home that is not where one lives.
_NOT_HOME = re.compile(
    r"\b(?:sell(?:ing|s)?|sold|(?:for|on)\s+sale|rent(?:ing|ed)?\s+(?:it\s+)?out|"
    r"let(?:ting)?\s+(?:it\s+)?out|miss(?:ed|ing)?|holidays?|vacations?|summers?|weekends?|getaway|airbnb|"
    r"investment|rental|second|another|spare|extra|old|former|previous|parents'?|buy(?:ing)?|"
    r"bought|looking\s+(?:at|for)|view(?:ing|ed)|visit(?:ing|ed)?|toured|for\s+(?:my|his|her|their)\s+"
    r"(?:sister|brother|son|daughter|mum|mom|dad|parents|friend|kids?)|also\s+(?:have|own|got)|"
    r"(?:have|own|got)\s+(?:\w+\s+){1,4}(?:too|as\s+well))\b",
    re.IGNORECASE,
)
# "I'm (now) in X (now)": a present location; a residence only with "now" (or "these days")
# and no sign of a trip.
_NOW_IN_RE = re.compile(
    rf"(?:{_I_AM}|\b(?P<we>we)(?:'re|\s+are))\s+(?P<pre>(?:(?:now|back|finally|officially|still|currently)\s+)*)in\s+(?=(?P<rest>\S.*))",
    re.IGNORECASE,
)
_NOW_AFTER = re.compile(
    r"^\s*,?\s*(?:now|these\s+days|nowadays|for\s+good|permanently)\b", re.IGNORECASE
)
_TRIP = re.compile(
    r"\b(?:trip|holidays?|vacation|visit|visiting|conference|business|travel\w*|stopover|"
    r"layover|tonight|today|this\s+(?:week|weekend|month)|for\s+(?:the|a)\s+(?:week|weekend|"
    r"few\s+days|couple\s+of\s+days|day|night|month)|until|till|hotel|airport|flight|flying|"
    r"back\s+home|meeting|festival|wedding|funeral|tour|staying|stay|for\s+work)\b",
    re.IGNORECASE,
)
# Relative clauses and appositions after a place: "..., where I live", "X, my new home".
_WHERE_I_LIVE = re.compile(
    r",?\s+where\s+(?:i|we)\s*(?:(?:now|currently|still|also)\s+)?(?:live|(?:'m|\s*am|'re|\s*are)\s+"
    r"(?:now\s+)?(?:living|based)|(?P<perfect>(?:'ve|\s*have)\s+(?:now\s+)?(?:been\s+living|lived))"
    r"|call\s+home)\b",
    re.IGNORECASE,
)
_MY_HOME_APPOSITION = re.compile(
    r",\s+(?:my|our)\s+(?:new\s+)?home(?:\s+(?:now|these\s+days))?\s*(?:[,.!;]|$)",
    re.IGNORECASE,
)
_IS_HOME = re.compile(
    r"\s+(?:is|'s|has\s+been|has\s+become|became)\s+(?:now\s+|finally\s+|officially\s+)?"
    r"(?:(?:my|our)\s+(?:new\s+)?)?home\b(?!-)(?!\s+to\s+(?!me\b|us\b))"
    r"(?!\s+for\s+(?!me\b|us\b|now\b|(?:about\s+|over\s+|almost\s+|nearly\s+|the\s+(?:past|last)"
    r"\s+)?(?:" + _NUM_WORDS + r")\s+(?:months?|years?|decades?)\b|years|ages|decades|a\s+while))"
    r"|\s+is\s+where\s+(?:i|we)\s+(?:(?:now|currently)\s+)?(?:live|call\s+home|(?:'m|am|'re|are)"
    r"\s+(?:living|based))\b",
    re.IGNORECASE,
)
_CALL_HOME = re.compile(
    r"\b(?:i|we)\s+(?:now\s+|proudly\s+|happily\s+)?call\s+(?P<place>[^,;.!?]+?)\s+home\b"
    rf"|{_I_OR_WE}{_HAVE}\s+{_ADV}made\s+(?P<made>[^,;.!?]+?)\s+(?:my|our)\s+(?:new\s+)?home\b",
    re.IGNORECASE,
)


# "I'm in X" given as background for advice ("so I'm in Madrid, if that matters"): a home.
_LOCATION_CONTEXT = re.compile(
    r"\b(?:if\s+(?:that|it)\s+(?:matters|helps)|in\s+case\s+(?:that|it)\s+(?:matters|helps)|"
    r"for\s+(?:context|reference)|time\s*zones?|local\s+time)\b",
    re.IGNORECASE,
)
# "born and raised in X and still here", "grew up in X and never left"
_STAYED_RE = re.compile(
    r"(?:^|\bi\s+was\s+|\bi(?:'m|\s+am)\s+|\bi\s+)(?:(?:so|well|yeah|honestly|actually)\s+)*"
    r"(?:born\s+and\s+(?:raised|bred)|grew\s+up|raised)\s+(?:right\s+)?in\s+(?=(?P<rest>\S.*))",
    re.IGNORECASE,
)
_STILL_HERE = re.compile(
    r"\b(?:(?:and\s+)?(?:i'm\s+|i\s+am\s+|i\s+)?still\s+(?:here|there|live\s+(?:here|there)|"
    r"living\s+(?:here|there)|based\s+(?:here|there))|(?:and\s+)?(?:i\s+|i've\s+)?"
    r"(?:never\s+(?:left|moved\s+away)|haven't\s+(?:left|moved\s+away)))\b"
    r"(?!\s+(?:the|my|a|an|his|her|their|our|it|home|to|for|in|on|at)\b)",
    re.IGNORECASE,
)
# "I'm a Rotterdam girl through and through", "I'm a Leeds local"
_LOCAL_RE = re.compile(
    rf"{_I_AM}\s+(?:a|an)\s+(?:(?:true|real|proper|proud|born\s+and\s+(?:bred|raised))\s+)?"
    r"(?P<place>(?-i:[A-Z][\w'.-]*(?:\s+[A-Z][\w'.-]*){0,2}))\s+"
    r"(?P<who>girl|guy|boy|gal|lad|lass|kid|local|resident)\b",
    re.IGNORECASE,
)
_THROUGH = re.compile(
    r"\b(?:through\s+and\s+through|born\s+and\s+(?:bred|raised)|to\s+the\s+core|and\s+proud|"
    r"(?:true|real|proper|proud)\s+\S+\s+(?:girl|guy|boy|gal|lad|lass|kid))\b",
    re.IGNORECASE,
)
_NOT_LOCAL = re.compile(r"\b(?:at\s+heart|originally|used\s+to|fan|team|brand)\b", re.I)
# Names in "I'm a <name> guy" that are brands or fandoms, not places.
_NOT_LOCAL_NAMES = frozenset(
    """apple android google microsoft samsung sony nintendo xbox playstation marvel dc disney
    pixar star wars trek nike adidas puma coke pepsi starbucks mcdonald's lego harry potter
    beatles stones taylor swift""".split()
)
# A name opening a text, and a present-tense predicate after it ("Rome is tiny").
_LEAD_NAME = re.compile(
    r"(?-i:(?:the\s+)?[A-Z][\w'.&-]*(?:\s+(?:(?!I\b|I')[A-Z][\w'.&-]*|of|de|del|da|do|du|la|le|am|y|upon)){0,3})"
    r"(?=\s|$)"
)
_PRESENT_AFTER = re.compile(
    r"^\s*(?:is|are|'s|has|feels|looks|gets|isn't|costs|needs)\b", re.IGNORECASE
)
# A verb right after a housing place: "my flat in Paris was lovely" is the past.
_PAST_AFTER = re.compile(r"^\s*(?:was|were|used\s+to|had)\b", re.IGNORECASE)


def _has_duration(rest: str) -> bool:
    tail = _after(rest)
    return _LONG_DURATION.search(tail) is not None and _PAST_TAIL.search(tail) is None


@_rule
def _lives_in(sentence: str, sp: _Speaker, _ref: datetime | None, _msg: str) -> Iterator[_Fact]:
    not_home = _NOT_HOME.search(sentence) is not None or _TRIP.search(sentence) is not None
    for rx, proper, duration in _LIVES_RES:
        for m in rx.finditer(sentence):
            groups = m.groupdict()
            rest = next(groups[g] for g in ("rest", "rest2", "rest3", "rest4") if groups.get(g))
            we = m.group(0).lower().startswith("we")
            if duration and not _has_duration(rest):
                continue
            if not duration and "been" in m.group(0).lower() and _PAST_TAIL.search(_after(rest)):
                continue  # "I've been living in X until ..."
            if re.match(r"since|after|ever", m.group(0), re.I) and _FUTURE.search(sentence):
                continue  # "after moving to Oslo next year"
            housing = _HOUSING.search(m.group(0)) is not None
            if housing and not_home:
                continue
            place = _place(rest, proper=proper or we)
            if place is None and housing:
                # "my place in Rome is tiny": the name before the predicate
                lead = _LEAD_NAME.match(rest)
                if lead and _PRESENT_AFTER.match(rest[lead.end() :]):
                    place = _place(lead.group(0), proper=True)
            if (
                place
                and housing
                and rest.startswith(place)
                and _PAST_AFTER.match(rest[len(place) :])
            ):
                continue  # "my flat in Paris was lovely"
            if place:
                yield _lives_fact(m.start(), sp, place)
    trip = _TRIP.search(sentence) is not None
    background = _LOCATION_CONTEXT.search(sentence) is not None and not _FUTURE.search(sentence)
    for m in _NOW_IN_RE.finditer(sentence):
        if trip:
            break
        place = _place(m["rest"], proper=True)
        if not place or len(_words(place)) > 4:
            continue
        after = m["rest"][len(place) :] if m["rest"].startswith(place) else ""
        context = not m["we"] and background
        pre = m["pre"].lower()
        if "now" in pre or "currently" in pre or _NOW_AFTER.match(after) or context:
            yield _lives_fact(m.start(), sp, place)
    for m in _X_BASED_RE.finditer(sentence):
        place = _place(m["place"], proper=True)
        if place:
            yield _lives_fact(m.start(), sp, place)
    for m in _STAYED_RE.finditer(sentence):
        still = _STILL_HERE.search(m["rest"])
        if still:
            head = re.sub(r"[\s,]*(?:\band\b|\bbut\b)?[\s,]*$", "", m["rest"][: still.start()])
            place = _place(head, proper=True)
            if place:
                yield _lives_fact(m.start(), sp, place)
    for m in _LOCAL_RE.finditer(sentence):
        if m["who"].lower() not in ("local", "resident") and not _THROUGH.search(sentence):
            continue
        place = _place(m["place"], proper=True)
        if not place or _NOT_LOCAL.search(sentence) or _norm(place) in _NOT_ORG:
            continue
        if not any(w in _NOT_LOCAL_NAMES for w in _words(place)):
            yield _lives_fact(m.start(), sp, place)
    for rx in (_WHERE_I_LIVE, _MY_HOME_APPOSITION):
        for m in rx.finditer(sentence):
            if rx is _WHERE_I_LIVE and m["perfect"] and not _has_duration(sentence[m.end() :]):
                continue
            got = _proper_before(sentence, m.start())
            if got:
                place = _place(got[1], proper=True)
                if place:
                    yield _lives_fact(got[0], sp, place)
    for m in _IS_HOME.finditer(sentence):
        got = _np_before(sentence, m.start(), proper=True)
        if got:
            place = _place(got[1], proper=True)
            if place:
                yield _lives_fact(got[0], sp, place)
    for m in _CALL_HOME.finditer(sentence):
        place = _place(m["place"] or m["made"], proper=True)
        if place:
            yield _lives_fact(m.start(), sp, place)


_FROM_RES = [
    re.compile(rf"{_I_AM}\s+{_ADV}from\s+(?=(?P<rest>\S.*))", re.IGNORECASE),
    re.compile(rf"\bi\s+{_ADV}(?:come|hail)\s+from\s+(?=(?P<rest>\S.*))", re.IGNORECASE),
]


@_rule
def _from(sentence: str, sp: _Speaker, _ref: datetime | None, _msg: str) -> Iterator[_Fact]:
    for rx in _FROM_RES:
        for m in rx.finditer(sentence):
            place = _third_person(_clause(m["rest"], _PLACE_STOPS))
            if _ok_place(place):
                yield _fact(m.start(), "from", _norm(place), f"{sp.display} is from {place}.")


_ORG_STOPS = re.compile(
    r"\s+(?:as|in|since|for|with|on|from|near|doing|where|during|part[\s-]time|full[\s-]time|"
    r"remotely|now)\b",
    re.IGNORECASE,
)
_ORG_SKIP = frozenset(
    """home myself me it them free hours money least night nights weekends noon midnight
    themselves themself ourselves yourself christmas xmas easter thanksgiving halloween
    hanukkah diwali ramadan eid""".split()
)
_WORKS_RES = [
    re.compile(
        rf"(?:\bi\s+{_ADV}work|{_I_AM}\s+{_ADV}(?:working|employed))\s+(?P<prep>at|for|by)\s+"
        r"(?=(?P<rest>\S.*))",
        re.IGNORECASE,
    ),
    re.compile(
        rf"\bi(?:'ve|\s+have)?\s+{_ADV}(?:started|begun|began)\s+"
        r"(?:(?:(?:working|work|a\s+new\s+job|a\s+job|my\s+new\s+job|a\s+new\s+role|"
        r"a\s+new\s+position)\s+(?P<prep2>at|for|with))|(?P<prep>at))\s+(?=(?P<rest>\S.*))",
        re.IGNORECASE,
    ),
    re.compile(
        rf"\bi(?:'ve|\s+have)?\s+{_ADV}got\s+(?:a\s+|the\s+|my\s+dream\s+)?(?:new\s+)?job\s+"
        r"(?P<prep>at|with)\s+(?=(?P<rest>\S.*))",
        re.IGNORECASE,
    ),
    # "I've been working at X", "I've been employed by X"
    re.compile(
        rf"\bi{_HAVE}\s+{_ADV}been\s+(?:working|employed)\s+(?P<prep>at|for|by)\s+"
        r"(?=(?P<rest>\S.*))",
        re.IGNORECASE,
    ),
    # "I got hired by X", "I was hired at X", "I've been taken on by X"
    re.compile(
        rf"\bi(?:{_HAVE})?\s+{_ADV}(?:got|was|been|get)\s+{_ADV}(?:hired|taken\s+on|recruited)\s+"
        r"(?P<prep>by|at)\s+(?=(?P<rest>\S.*))",
        re.IGNORECASE,
    ),
    # "I landed / took / accepted / found a (new) job (as a nurse) at X"
    re.compile(
        rf"\bi(?:{_HAVE})?\s+{_ADV}(?:landed|took|taken|accepted|found|secured|scored|started)\s+"
        r"(?:a|an|the|my)\s+(?:[\w-]+\s+){0,2}?(?:job|role|position|gig|post)\s+"
        r"(?:as\s+an?\s+(?:[\w-]+\s+){1,3}?)?(?P<prep>at|with)\s+(?=(?P<rest>\S.*))",
        re.IGNORECASE,
    ),
    # "I accepted an offer from X"
    re.compile(
        rf"\bi(?:{_HAVE})?\s+{_ADV}(?:accepted|took)\s+(?:a|an|the|their)\s+(?:job\s+)?offer\s+"
        r"(?P<prep>from|at|with)\s+(?=(?P<rest>\S.*))",
        re.IGNORECASE,
    ),
    # "my (new) employer is X", "my new job is at X", "my current role at X ..."
    re.compile(
        r"\b(?:my|our)\s+(?:new\s+|current\s+|present\s+)?employer\s+(?:is|'s)\s+(?:now\s+)?"
        r"(?P<prep>)(?=(?P<rest>\S.*))"
        r"|\bmy\s+(?:new|current)\s+(?:job|role|position|gig)\s+(?:is\s+)?(?:now\s+)?"
        r"(?P<prep2>at|with)\s+(?=(?P<rest2>\S.*))",
        re.IGNORECASE,
    ),
]
# Organisations that are no employer in "I joined X" / "I'm at X": platforms, places of the day.
_NOT_ORG = frozenset(
    """twitter facebook instagram reddit tiktok linkedin discord slack zoom teams strava
    duolingo netflix spotify mastodon bluesky threads whatsapp telegram signal github gitlab
    patreon youtube twitch substack medium tinder bumble hinge meetup nextdoor pinterest
    snapchat quora goodreads letterboxd peloton weight watchers home work school college church
    the gym gym the office office uni university hospital the hospital heathrow gatwick
    starbucks costa""".split()
)
_ORG_SUFFIX = re.compile(
    r"\b(?:inc|ltd|llc|gmbh|ag|plc|corp|corporation|company|co|group|industries|systems|"
    r"technologies|labs|solutions|software|analytics|media|energy|health|bank|logistics|freight|"
    r"partners|consulting|studios|enterprises|holdings|ventures|capital|insurance|motors|"
    r"airlines|dynamics|networks|trading|traders|agency|associates|pharma|pharmaceuticals|"
    r"foods|electronics|telecom|robotics|games)\.?$",
    re.IGNORECASE,
)
# Words that make a sentence about a job ("I'm at X now, I switched jobs in the spring").
_JOB_CUE = re.compile(
    r"\b(?:(?:new|first|dream|day)\s+job|jobs|job\s+(?:offer|change|hunt)|role|position|"
    r"employers?|hired|career|colleagues?|co-?workers|salary|promotion|promoted|onboarding|"
    r"(?:handed|gave|put)\s+in\s+(?:my\s+)?notice|resigned|(?:switched|changed)\s+"
    r"(?:jobs|companies|employers)|work(?:ing)?\s+(?:there|for\s+them)|"
    r"been\s+(?:there|here)\s+(?:for\s+)?(?:about\s+|almost\s+|nearly\s+|over\s+|around\s+|"
    r"more\s+than\s+)?(?:" + _NUM_WORDS + r")\s+(?:months?|years?)|as\s+an?\s+"
    r"(?P<job>(?:[\w-]+\s+){0,2}[\w-]+))\b",
    re.IGNORECASE,
)


def _job_cue(text: str) -> bool:
    for m in _JOB_CUE.finditer(text):
        if m["job"] is None or _is_job(m["job"]):
            return True
    return False


# (pattern, needs): "duration" a long duration after it, "cue" a job word in the sentence or
# an organisation suffix ("Industries"), "clean" either of those or nothing after the name
# but a time ("I joined Stripe last week") or "as a <job>". All take capitalised names only.
_WORKS_WEAK: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(rf"\bi{_HAVE}\s+{_ADV}been\s+(?P<prep>at)\s+(?=(?P<rest>\S.*))", re.IGNORECASE),
        "duration",
    ),
    (
        re.compile(rf"\bi(?:{_HAVE})?\s+{_ADV}joined\s+(?P<prep>)(?=(?P<rest>\S.*))", re.I),
        "clean",
    ),
    (
        re.compile(
            rf"{_I_AM}\s+{_ADV}(?:(?:now|back)\s+)?(?P<prep>at)\s+(?=(?P<rest>\S.*))",
            re.IGNORECASE,
        ),
        "cue",
    ),
    (
        re.compile(
            rf"\bi(?:{_HAVE})?\s+{_ADV}(?:switched|jumped\s+ship)\s+(?:jobs\s+|companies\s+|"
            r"employers\s+|over\s+)?to\s+(?P<prep>)(?=(?P<rest>\S.*))",
            re.IGNORECASE,
        ),
        "cue",
    ),
    # "I work in sales at X", "I work on the payments team at X", "I'm on the design team at X"
    (
        re.compile(
            rf"\bi\s+{_ADV}work\s+(?:in|on)\s+(?:the\s+|a\s+)?[\w-]+(?:\s+[\w-]+){{0,2}}?\s+"
            rf"(?P<prep>at|for)\s+(?=(?P<rest>\S.*))|{_I_AM}\s+{_ADV}(?:working\s+)?on\s+the\s+"
            r"[\w-]+(?:\s+[\w-]+){0,2}?\s+team\s+(?P<prep2>at|with|for)\s+(?=(?P<rest2>\S.*))",
            re.IGNORECASE,
        ),
        "proper",
    ),
    # "I've worked at X since 2019", "I've been with X for five years" (with: a job word too)
    (
        re.compile(rf"\bi{_HAVE}\s+{_ADV}worked\s+(?P<prep>at|for)\s+(?=(?P<rest>\S.*))", re.I),
        "duration",
    ),
    (
        re.compile(rf"\bi{_HAVE}\s+{_ADV}been\s+(?P<prep>with)\s+(?=(?P<rest>\S.*))", re.I),
        "cue",
    ),
    # "my company, Globex, ...", "our employer Initech"
    (
        re.compile(
            r"\b(?:my|our)\s+(?:current\s+|new\s+)?(?:company|employer|firm|workplace)\s*,?\s+"
            r"(?P<prep>)(?=(?P<rest>(?-i:[A-Z])\S*.*))",
            re.IGNORECASE,
        ),
        "proper",
    ),
    # "I'm (officially) a Globex employee"
    (
        re.compile(
            rf"{_I_AM}\s+{_ADV}(?:(?:now|officially)\s+)*(?:an?\s+)(?P<prep>)(?=(?P<rest>(?-i:[A-Z])"
            r"[\w'.&-]*(?:\s+(?-i:[A-Z])[\w'.&-]*){0,3}\s+(?:employee|staffer|staff\s+member)\b))",
            re.IGNORECASE,
        ),
        "proper",
    ),
    # "I switched jobs from X to Y", "I changed companies to Y"
    (
        re.compile(
            rf"\bi(?:{_HAVE})?\s+{_ADV}(?:switched|changed|swapped)\s+(?:jobs|companies|employers)\s+"
            r"(?:from\s+[^,;.!?]+?\s+)?to\s+(?P<prep>)(?=(?P<rest>\S.*))",
            re.IGNORECASE,
        ),
        "proper",
    ),
    # "I left Initech for Vandelay Industries" (an organisation's name: cities are left too)
    (
        re.compile(
            rf"\bi(?:{_HAVE})?\s+{_ADV}(?:left|quit)\s+[^,;.!?]+?\s+for\s+(?P<prep>)(?=(?P<rest>\S.*))",
            re.IGNORECASE,
        ),
        "suffix",
    ),
    # "I switched jobs in the spring, now at X": "I'm" left out
    (
        re.compile(r"(?:^|[,;:—–]\s*|\band\s+)now\s+(?P<prep>at)\s+(?=(?P<rest>\S.*))", re.I),
        "cue",
    ),
    # "I've moved over to Evergreen Health": a move to an organisation's name
    (
        re.compile(
            rf"\bi(?:{_HAVE})?\s+{_ADV}(?:moved|gone|went)\s+(?:over\s+|across\s+)?to\s+"
            r"(?P<prep>)(?=(?P<rest>\S.*))",
            re.IGNORECASE,
        ),
        "suffix",
    ),
    # "my boss at X", "my shift at X", "our team at X"
    (
        re.compile(
            r"\b(?:my|our)\s+(?:(?:current|new|daily|usual|whole)\s+)?(?:job|shifts?|team|boss|"
            r"manager|colleagues|colleague|co-?workers?|workmates?|role|position|department)\s+"
            r"(?:here\s+)?(?P<prep>at|with)\s+(?=(?P<rest>\S.*))",
            re.IGNORECASE,
        ),
        "proper",
    ),
    # "work's been hectic at X", "work at X is crazy"
    (
        re.compile(
            r"\bwork(?:'s|\s+is|\s+has\s+been)\s+(?:[\w-]+\s+){0,3}?(?P<prep>at)\s+"
            r"(?=(?P<rest>\S.*))|\bwork\s+(?P<prep2>at)\s+(?=(?P<rest2>[^,;.!?]+?\s+(?:is|'s|has\s+been)\b))",
            re.IGNORECASE,
        ),
        "proper",
    ),
    # "long day at X today, the usual"
    (
        re.compile(
            r"\b(?:long|hectic|rough|tough|stressful|exhausting)\s+(?:(?:work\s*)?day|week|shift|"
            r"night)\s+(?:at\s+work\s+)?"
            r"(?P<prep>at)\s+(?=(?P<rest>\S.*))",
            re.IGNORECASE,
        ),
        "routine",
    ),
    # "I do data analysis for X"
    (
        re.compile(
            rf"\bi\s+{_ADV}do\s+(?:(?:some|the|freelance|contract|part-time|full-time)\s+)*"
            r"(?:[\w-]+\s+){0,2}?(?:work|analysis|analytics|research|design|consulting|consultancy|"
            r"marketing|engineering|development|support|sales|accounting|bookkeeping|admin|"
            r"administration|it|qa|pr|hr|ops|operations|security|testing|programming|coding|"
            r"copywriting|editing|translation|translating|photography|recruiting|recruitment|"
            r"illustration|logistics|compliance|finance|legal|communications|comms|strategy|"
            r"science|devops|backend|back-end|frontend|front-end|ux|ui|payroll|procurement|"
            r"modelling|modeling|tutoring|training|coaching|nursing|reporting)\s+"
            r"(?P<prep>for)\s+(?=(?P<rest>\S.*))",
            re.IGNORECASE,
        ),
        "proper",
    ),
]
# "I'm starting at X on Monday" (with a job word or an organisation's name): a job being taken
# up, said even before the first day.
_STARTING_RE = re.compile(
    rf"(?:{_I_AM}\s+{_ADV}|^|[,;:—–]\s*|\b(?:and|so|then)\s+)(?:(?:just|officially|finally)\s+)?"
    r"(?:starting|beginning)\s+(?:(?:a\s+new\s+job|my\s+new\s+job|work|a\s+new\s+role|"
    r"my\s+new\s+role|a\s+job)\s+)?(?P<prep>at|with)\s+(?=(?P<rest>\S.*))"
    rf"|\bi\s+{_ADV}start\s+(?:(?:my\s+new\s+job|work|my\s+new\s+role)\s+)?(?P<prep2>at|with)\s+"
    r"(?=(?P<rest2>\S.*))",
    re.IGNORECASE,
)
_MAYBE_BEFORE = re.compile(
    r"\b(?:might|may|could|would|should|hope|hoping|maybe|perhaps|possibly|probably)\b[^,;.!?]*$",
    re.IGNORECASE,
)
# Job words in another sentence of the message ("New job! I'm at X as of this week").
_MESSAGE_JOB_CUE = re.compile(
    r"\b(?:new\s+(?:job|role|position|gig|employer)|(?:switched|changed)\s+(?:jobs|companies|"
    r"employers)|got\s+(?:the|a)\s+job|hired|first\s+day|handed\s+in\s+(?:my\s+)?notice)\b",
    re.IGNORECASE,
)
_VERB_AFTER = re.compile(
    r"^\s*(?:is|are|'s|has|have|was|were|keeps|kept|gets|got|isn't|wasn't|just|always|never|"
    r"called|said|wants|asked|told|gave|made|feels|seems|does|did|starts|started|begins)\b",
    re.IGNORECASE,
)
_ROUTINE = re.compile(
    r"\b(?:the\s+usual|as\s+usual|at\s+work|office|shift|boss|colleagues?)\b", re.I
)
_UNPAID = re.compile(r"\b(?:volunteer\w*|voluntary|charity|unpaid|pro\s+bono|free)\b", re.I)
# A visit, not a workplace: "Got the job! I'm at Nando's tonight to celebrate".
_PASSING = re.compile(
    r"\b(?:tonight|today|right\s+now|for\s+(?:lunch|dinner|drinks?|coffee|breakfast|brunch)|"
    r"celebrat\w*|party|waiting|queue|visit\w*)\b",
    re.IGNORECASE,
)
# "my new company / firm / workplace is X"
_MY_COMPANY_RE = re.compile(
    r"\bmy\s+(?:new\s+|current\s+)?(?:company|firm|workplace|work\s+place)\s+(?:is|'s)\s+"
    r"(?:now\s+)?(?=(?P<rest>\S.*))",
    re.IGNORECASE,
)
# "X is my (new) employer", "X hired me", "X is where I work"
_ORG_BEFORE = re.compile(
    r"\s+(?:is|'s|has\s+been|has\s+become)\s+(?:now\s+)?my\s+(?:new\s+|current\s+)?employer\b"
    r"|\s+(?:just\s+|finally\s+|recently\s+)?(?:hired|took\s+me\s+on|has\s+hired)\s+me\b"
    r"|\s+is\s+where\s+i\s+(?:now\s+|currently\s+)?work\b",
    re.IGNORECASE,
)
_ORG_CLAUSE_STOPS = re.compile(r"\s+(?:at|and|to)\b", re.IGNORECASE)


_ORG_TIME = frozenset(
    "weekend weekends moment minute time end start beginning same last first latest most least"
    " back front top bottom".split()
)


def _org_ok(org: str) -> bool:
    words = _words(org)
    if not words or words[0] in _ORG_SKIP or org[:1].isdigit() or not _ok_value(org):
        return False
    if words[0] == "the" and len(words) > 1 and words[1] in _ORG_TIME:
        return False  # "I'm working at the weekend"
    return not any(w in _VERBISH for w in words)


def _works_fact(start: int, sp: _Speaker, prep: str, org: str) -> _Fact:
    prep = "for" if prep.lower() in ("for", "by", "from", "") else "at"
    return _fact(start, "works_at", _norm(org), f"{sp.display} works {prep} {org}.")


def _weak_org(
    rest: str, need: str, sentence: str, span: tuple[int, int], msg: str = ""
) -> str | None:
    """The employer after a weak trigger ("I joined", "I'm at", ...), or None."""
    rest = rest[:_WINDOW]
    end = _CLAUSE_END.search(rest)
    raw = rest[: end.start()] if end else rest
    org = re.sub(
        r"\s+(?:employee|staffer|staff\s+member)$", "", _clause(raw, _ORG_STOPS), flags=re.I
    )
    lead = _LEAD_NAME.match(raw)
    if lead and not _proper(org) and _VERB_AFTER.match(raw[lead.end() :]):
        org = lead.group(0)  # "my boss at Initech is a nightmare"
    if not org or not _org_ok(org) or not _proper(org) or _norm(org) in _NOT_ORG:
        return None
    if need == "proper" or _ORG_SUFFIX.search(org):
        return org
    if need == "suffix":
        return None
    w = _window_start(sentence, span[0])
    others = sentence[w : span[0]] + " " + sentence[span[1] : span[1] + _WINDOW]
    if _job_cue(others):
        return org
    if need == "routine":
        return org if _ROUTINE.search(others) else None
    if need == "cue" and _MESSAGE_JOB_CUE.search(msg) and not _PASSING.search(sentence):
        return org  # "New job! I'm at Soylent as of this week."
    if need == "clean" and _ORG_CLAUSE_STOPS.search(org):
        return None  # "I joined Anna and Tom at the pub"
    if need == "duration":
        return org if _has_duration(rest) else None
    if need == "clean":
        stop = _ORG_STOPS.search(raw)
        tail = raw[stop.start() :] if stop else ""
        tail = strip_time_expressions(tail) if find_time_windows(tail, _PROBE_REF) else tail
        tail = _TRAILING_FILLER.sub("", " " + tail).strip(" ,")
        if not tail or re.match(r"as\s+an?\s", tail, re.IGNORECASE):
            return org
    return None


# A job that ended or was turned down later in the sentence ("Google hired me in 2010 and
# fired me in 2012", "I was hired by X but turned it down").
_JOB_ENDED = re.compile(
    r"\b(?:fired|laid\s+off|let\s+go|left|leaving|quit|quitting|lost|losing|resigned|"
    r"turned\s+(?:it|them|the\s+\w+)\s+down|"
    r"declined|until|till|went\s+bust|closed|shut\s+down)\b",
    re.IGNORECASE,
)


@_rule
def _works_at(sentence: str, sp: _Speaker, _ref: datetime | None, _msg: str) -> Iterator[_Fact]:
    future = _FUTURE.search(sentence) is not None
    for rx in _WORKS_RES:
        for m in rx.finditer(sentence):
            groups = m.groupdict()
            rest = groups.get("rest") or groups.get("rest2") or ""
            prep = groups.get("prep") or groups.get("prep2") or "for"
            if "been" in m.group(0).lower() and _PAST_TAIL.search(_after(rest)):
                continue  # "I've been working at X until ..."
            hired = re.search(r"hired|taken|recruited|offer", m.group(0), re.IGNORECASE)
            if hired and _JOB_ENDED.search(rest):
                continue  # "I was hired by X but turned it down"
            org = _third_person(_clause(rest, _ORG_STOPS))
            if _org_ok(org):
                yield _works_fact(m.start(), sp, prep, org)
    for m in _STARTING_RE.finditer(sentence):
        w = _window_start(sentence, m.start())
        if _MAYBE_BEFORE.search(sentence, w, m.start()):
            continue  # "I might be starting at X"
        if _JOB_ENDED.search(sentence, m.end(), m.end() + _WINDOW):
            continue
        rest = m["rest"] if m["rest"] is not None else m["rest2"]
        weak = _weak_org(rest, "cue", sentence, (m.start(), m.end()), _msg)
        if weak:
            yield _works_fact(m.start(), sp, "at", _third_person(weak))
    if future:
        return  # "I'm joining X next month" is a plan
    for rx, need in _WORKS_WEAK:
        for m in rx.finditer(sentence):
            if _JOB_ENDED.search(sentence, m.end(), m.end() + _WINDOW):
                continue
            w = _window_start(sentence, m.start())
            if need == "proper" and _JOB_ENDED.search(sentence, w, m.start()):
                continue  # "I quit my job at X"
            clause_at = max(
                (b.end() for b in _NP_BOUNDARY.finditer(sentence, w, m.start())), default=w
            )
            if need == "proper" and any(
                _is_past(w) for w in _words(sentence[clause_at : m.start()])
            ):
                continue  # "I hated my job at X": the past
            if "do" in _words(m.group(0)) and _UNPAID.search(m.group(0)):
                continue  # "I do volunteer work for Oxfam"
            g = m.groupdict()
            rest = g["rest"] if g["rest"] is not None else g.get("rest2") or ""
            prep = g["prep"] if g["prep"] is not None else g.get("prep2")
            weak = _weak_org(rest, need, sentence, (m.start(), m.end()), _msg)
            if weak:
                yield _works_fact(m.start(), sp, prep or "at", _third_person(weak))
    for m in _MY_COMPANY_RE.finditer(sentence):
        org = _clause(m["rest"], _ORG_STOPS)
        if _org_ok(org) and _proper(org) and _norm(org) not in _NOT_ORG:
            yield _works_fact(m.start(), sp, "for", _third_person(org))
    for m in _ORG_BEFORE.finditer(sentence):
        if _JOB_ENDED.search(sentence, m.end()):
            continue
        got = _np_before(sentence, m.start(), proper=True)
        if got and _org_ok(got[1]) and _norm(got[1]) not in _NOT_ORG:
            yield _works_fact(got[0], sp, "for", got[1])


_STUDIES_RES = [
    re.compile(
        rf"(?:\bi\s+{_ADV}study|{_I_AM}\s+{_ADV}studying)\s+(?:\w+\s+){{0,3}}?at\s+"
        r"(?=(?P<rest>\S.*))",
        re.IGNORECASE,
    ),
]


@_rule
def _studies_at(sentence: str, sp: _Speaker, _ref: datetime | None, _msg: str) -> Iterator[_Fact]:
    for rx in _STUDIES_RES:
        for m in rx.finditer(sentence):
            org = _third_person(_clause(m["rest"], _ORG_STOPS))
            if _org_ok(org):
                yield _fact(m.start(), "studies_at", _norm(org), f"{sp.display} studies at {org}.")


_JOB_STOPS = re.compile(
    r"\s+(?:at|for|in|with|from|by|and|who|on|of|based|working|living|since|who|like)\b",
    re.IGNORECASE,
)
_JOB_RE = re.compile(rf"{_I_AM}\s+{_ADV}(?P<art>an?)\s+(?=(?P<rest>\S.*))", re.IGNORECASE)
_WORK_AS_RE = re.compile(
    rf"\bi\s+{_ADV}work\s+(?:(?:at|for)\s+[^,;.!?]+?\s+)?as\s+(?P<art>an?)\s+(?=(?P<rest>\S.*))",
    re.IGNORECASE,
)
_AT_ORG_RE = re.compile(r"^\s+(?P<prep>at|for|with)\s+(?=(?P<rest>\S.*))", re.IGNORECASE)


def _is_job(phrase: str) -> bool:
    words = _words(phrase)
    if not words or len(words) > 4 or words[0] in _NOT_JOB_FIRST:
        return False
    last = words[-1]
    if last in _NOT_JOB:
        return False
    if last in _JOB_WORDS:
        return True
    shown = phrase.split()[-1]
    if shown[:1].isupper() and not shown.isupper():
        return False  # "a Berliner", "a New Yorker": not an occupation
    return len(last) > 4 and last.endswith(("er", "or", "ist", "eer"))


def _job_facts(m: re.Match[str], sp: _Speaker, check: bool) -> Iterator[_Fact]:
    rest = m["rest"]
    end = _CLAUSE_END.search(rest)
    clause = rest[: end.start()] if end else rest
    stop = _JOB_STOPS.search(clause)
    job = _clause(clause[: stop.start()] if stop else clause)
    job = re.sub(
        r"^(?:[A-Z][\w'.]*\s+){0,2}[A-Z][\w'.]*-based\s+", "", job
    )  # "a Lisbon-based designer"
    if not job or (check and not _is_job(job)) or not _ok_value(job, max_words=5):
        return
    art = "an" if job[:1].lower() in "aeiou" else "a"
    if _words(job)[-1] == "student":
        org_m = _AT_ORG_RE.match(clause[stop.start() :]) if stop else None
        if org_m:
            org = _third_person(_clause(org_m["rest"], _ORG_STOPS))
            if _org_ok(org):
                yield _fact(m.start(), "studies_at", _norm(org), f"{sp.display} studies at {org}.")
        yield _fact(m.start(), "job", _norm(job), f"{sp.display} is {art} {job}.")
        return
    yield _fact(m.start(), "job", _norm(job), f"{sp.display} is {art} {job}.")
    org_m = _AT_ORG_RE.match(clause[stop.start() :]) if stop else None
    if org_m:
        org = _third_person(_clause(org_m["rest"], _ORG_STOPS))
        with_ = org_m["prep"].lower() == "with"  # "a nurse with the NHS", not "with 10 years"
        if _org_ok(org) and (not with_ or (_proper(org) and _norm(org) not in _NOT_ORG)):
            yield _works_fact(m.start(), sp, "at" if with_ else org_m["prep"], org)


@_rule
def _job(sentence: str, sp: _Speaker, _ref: datetime | None, _msg: str) -> Iterator[_Fact]:
    for m in _JOB_RE.finditer(sentence):
        yield from _job_facts(m, sp, check=True)
    for m in _WORK_AS_RE.finditer(sentence):
        yield from _job_facts(m, sp, check=False)


_RELATIONSHIP_RE = re.compile(
    rf"{_I_AM}\s+{_ADV}(?:happily\s+)?(?P<v>married|single|engaged|divorced|widowed|separated|"
    r"in\s+a\s+relationship)\b",
    re.IGNORECASE,
)


@_rule
def _relationship(sentence: str, sp: _Speaker, _ref: datetime | None, _msg: str) -> Iterator[_Fact]:
    for m in _RELATIONSHIP_RE.finditer(sentence):
        v = " ".join(m["v"].lower().split())
        yield _fact(m.start(), "relationship", v, f"{sp.display} is {v}.")


_DIET_RE = re.compile(
    rf"{_I_AM}\s+{_ADV}(?:an?\s+)?(?:strict\s+|full[\s-]time\s+)?"
    r"(?P<v>vegetarian|vegan|pescatarian|pescetarian|flexitarian)\b",
    re.IGNORECASE,
)


@_rule
def _diet(sentence: str, sp: _Speaker, _ref: datetime | None, _msg: str) -> Iterator[_Fact]:
    for m in _DIET_RE.finditer(sentence):
        v = m["v"].lower()
        yield _fact(m.start(), "diet", v, f"{sp.display} is {v}.")


_NAME_RES = [
    re.compile(r"\bmy\s+name(?:\s+is|'s)\s+(?=(?P<rest>\S.*))", re.IGNORECASE),
    re.compile(
        r"(?:^|[,;:!.]\s*|\b(?:please|just|you\s+can|everyone|people|friends)\s+)call\s+me\s+"
        r"(?=(?P<rest>\S.*))",
        re.IGNORECASE,
    ),
]
_NAME_WORDS = re.compile(r"^(?P<n>[^\W\d_][\w'.-]*(?:\s+[^\W\d_][\w'.-]*){0,2})")
_NAME_STOP_WORDS = frozenset(
    "and but or by at in on from please thanks thank btw though too also now not".split()
)


def _name_value(rest: str, *, capitalised: bool) -> str | None:
    m = _NAME_WORDS.match(_clause(rest))
    if not m:
        return None
    words: list[str] = []
    for w in m["n"].split():
        if w.lower() in _NAME_STOP_WORDS:
            break
        words.append(w)
    if not words:
        return None
    first = words[0].lower().rstrip(".")
    if first in _PRONOUN_FIRST or first in _MONTH_NAMES or first in _WEEKDAYS:
        return None
    if first in _TIME_WORDS or first in {"back", "later", "whenever", "anytime", "if"}:
        return None
    if capitalised:
        # the capitalised words only: "Max instead", "Rex these days"
        cut = next((i for i, w in enumerate(words) if not w[:1].isupper()), len(words))
        words = words[:cut]
        if not words:
            return None
    return " ".join(words).rstrip(".")


@_rule
def _name(sentence: str, sp: _Speaker, _ref: datetime | None, _msg: str) -> Iterator[_Fact]:
    for i, rx in enumerate(_NAME_RES):
        for m in rx.finditer(sentence):
            name = _name_value(m["rest"], capitalised=i == 1)
            if name:
                yield _fact(m.start(), "name", _norm(name), f"{sp.possessive} name is {name}.")


_NAMED_RES = [
    # "my dog is (now) called X", "my cat's (new) name is X", "my rabbit goes by X", "our dog
    # answers to X" ("our" for pets only)
    re.compile(
        r"\b(?:my\s+(?:[a-z]+\s+)?(?P<kin>"
        + _NAMED
        + r")|our\s+(?:[a-z]+\s+)?(?P<pet>"
        + _PETS
        + r"))(?:'s\s+(?:new\s+|real\s+|full\s+)?name\s+is|(?:\s+is|'s)\s+(?:now\s+|actually\s+|"
        r"officially\s+)?(?:called|named|known\s+as)|,?\s+(?:called|named)|\s+(?:now\s+)?"
        r"(?:goes|answers)\s+(?:by|to)(?:\s+the\s+name(?:\s+of)?)?|\s+(?:has|'s)\s+been\s+"
        r"(?:re)?named(?:\s+to)?|\s+(?:was|got)\s+renamed(?:\s+to)?)\s+(?:now\s+)?"
        r"(?=(?P<rest>\S.*))",
        re.IGNORECASE,
    ),
    # "I have / adopted / got a dog called X", "we got a kitten named X"
    re.compile(
        r"\b(?:i\s+(?:have|own|adopted|got|rescued|bought)|i've\s+(?:got|adopted|rescued)|"
        r"i\s+have\s+got|we\s+(?:have|own|adopted|got|rescued|bought)|we've\s+(?:got|adopted|"
        r"rescued))\b[^.;!?]{0,200}?\ban?\s+(?:[a-z]+\s+)?(?P<kin>" + _PETS + r")\s+"
        r"(?:called|named)\s+(?=(?P<rest>\S.*))",
        re.IGNORECASE,
    ),
]
# "I/we (re)named / started calling / call my|our|the dog X", "we changed the cat's name to X"
_RENAME_RE = re.compile(
    rf"\b(?:i|we)(?:{_HAVE})?\s+{_ADV}(?:(?:ended\s+up|went\s+ahead\s+and|decided\s+to|"
    r"finally)\s+)?(?:(?:renamed|renaming|rename|re-named|named|naming|call|calling|"
    r"(?:started|began|begun)\s+calling|(?:settled\s+on|went\s+with)\s+(?:naming|calling)|"
    r"been\s+calling)\s+(?:my|our|the)\s+(?:[a-z]+\s+)?(?P<pet>"
    + _PETS
    + r")|(?:changed|changing|change)\s+(?:my|our|the)\s+(?:[a-z]+\s+)?(?P<pet2>"
    + _PETS
    + r")'s\s+name)"
    r"\s+(?:(?:from\s+[A-Z]\w*(?:\s+[A-Z]\w*)?\s+)?to\s+)?(?=(?P<rest>\S.*))",
    re.IGNORECASE,
)
# A pet of the speaker's mentioned earlier in the sentence, for "named it X" / "her name is X".
_OWN_PET_RE = re.compile(
    r"\b(?:my|our)\s+(?:[a-z]+\s+)?(?P<pet>" + _PETS + r")\b"
    # one renames one's own pet: "renamed the cat last week, he's Bandit now"
    r"|(?:\b(?:i|we)(?:'ve|\s+have)?\s+(?:[a-z]+\s+){0,2}?|^)(?:renamed|re-named|renaming|rename)\s+"
    r"the\s+(?:[a-z]+\s+)?(?P<pet3>" + _PETS + r")\b"
    r"|\b(?:i|we)(?:'ve|\s+have)?\s+(?:just\s+|finally\s+|recently\s+)?(?:have|own|adopted|got|"
    r"rescued|bought|found|took\s+in|brought\s+home)\s+(?:a|an|another|one|two|a\s+new)\s+"
    r"(?:[a-z]+\s+)?(?P<pet2>" + _PETS + r")\b",
    re.IGNORECASE,
)
_NAMED_IT_RE = re.compile(
    rf"(?:\b(?:i|we)(?:{_HAVE})?\s+|\band\s+){_ADV}(?:named|called|renamed|call|"
    r"(?:started|began|begun)\s+calling)\s+(?:him|her|it|them)\s+(?:to\s+)?(?=(?P<rest>\S.*))"
    r"|\b(?:his|her|its|their)\s+(?:new\s+)?name(?:'s|\s+is)\s+(?:now\s+)?(?=(?P<rest2>\S.*))"
    r"|\b(?:he|she|it)(?:'s|\s+is)\s+(?:now\s+)?(?:called|named)\s+(?:now\s+)?(?=(?P<rest3>\S.*))"
    r"|\b(?:he|she|it)\s+(?:now\s+)?(?:goes\s+by|answers\s+to)(?:\s+the\s+name(?:\s+of)?)?\s+"
    r"(?:now\s+)?(?=(?P<rest4>\S.*))"
    r"|\b(?:changed|changing)\s+(?:his|her|its)\s+name\s+to\s+(?=(?P<rest5>\S.*))",
    re.IGNORECASE,
)
# "..., he's Bandit now" after a renaming: the new name.
_NOW_NAMED_RE = re.compile(
    r"\b(?:he|she|it)(?:'s|\s+is)\s+(?:now\s+|officially\s+)*(?=(?P<rest>(?-i:[A-Z])\S*.*))",
    re.IGNORECASE,
)
_RENAME_CUE = re.compile(
    r"\b(?:renamed|re-named|renaming|new\s+name|name\s+change|changed\s+(?:his|her|its|the\s+"
    r"\w+'s|my\s+\w+'s|our\s+\w+'s)\s+name|(?:used\s+to\s+be|was)\s+(?:called|named)|"
    r"(?:isn't|is\s+not|is\s+no\s+longer)\s+"
    r"(?:called\s+)?(?-i:[A-Z])\w*(?:\s+any\s*more)?)\b",
    re.IGNORECASE,
)
# "Coco (my cat) ...", "Max – our dog – ..."
_PAREN_APPOSITION_RE = re.compile(
    r"\s*[(—–]\s*(?:my|(?P<our>our))\s+(?:(?:new|little|sweet|lovely|young|baby|rescue|naughty|"
    r"lazy|old)\s+)?(?P<kin>" + _NAMED + r")\s*[)—–]",
    re.IGNORECASE,
)
# "taking Max my dog to the vet": a name right before "my <pet>", object of a verb
_NAME_MY_PET_RE = re.compile(
    r"(?<![\w'])(?P<name>(?-i:[A-Z][a-z]+))\s+(?:my|our)\s+(?:(?:new|little|sweet|lovely|young|"
    r"baby|rescue|naughty|lazy|old)\s+)?(?P<pet>" + _PETS + r")\b(?!')"
    r"(?=\s*(?:[,.!;)]|$)|\s+(?:to|for|out|on|in|at|with|around|along|over|into|back|home|up|down|"
    r"and|too|today|tonight|tomorrow|this|every|because|while|when)\b)",
    re.IGNORECASE,
)
# Verbs whose first object is a person ("I told Anna my dog ...", "I showed Tom my cat").
_TWO_OBJECTS = frozenset(
    """tell told show showed shown give gave given send sent ask asked bring brought teach
    taught lend lent offer offered owe owed promise promised remind reminded introduce
    introduced pass passed hand handed buy bought get got make made call called wish wished
    let text texted email emailed message messaged thank thanked meet met""".split()
)
# "Rex is my dog", "Luna is our cat's (new) name", "Max is the dog's new name"
_NAME_IS_MY_RE = re.compile(
    r"\s+(?:is|'s)\s+(?:(?:now|still|officially)\s+)?(?:(?:my|(?P<our>our))\s+(?:(?:new|little|sweet|"
    r"lovely|young|baby|rescue|old)\s+)?(?:(?P<kin>"
    + _NAMED
    + r")\b(?![-'])(?!\s+(?:walker|sitter|"
    r"trainer|groomer|food|bed|toy|house|lead|leash|bowl|friend|owner|hair))|(?P<pet>"
    + _PETS
    + r")'s\s+(?:new\s+)?name)|the\s+(?P<pet3>"
    + _PETS
    + r")'s\s+new\s+name)\b",
    re.IGNORECASE,
)
# "my cat (Luna) ...", "our dog – Rex – ..."
_MY_PET_PAREN_RE = re.compile(
    r"\b(?:my|(?P<our>our))\s+(?:(?:new|little|sweet|lovely|young|baby|rescue|naughty|lazy|old)\s+)?"
    r"(?P<kin>" + _NAMED + r")\s*[(—–]\s*(?P<name>(?-i:[A-Z][a-z]+))\s*[)—–]",
    re.IGNORECASE,
)
# "the dog is now called Max": a renaming, so the speaker's dog
_THE_PET_NOW_RE = re.compile(
    r"\bthe\s+(?P<pet>"
    + _PETS
    + r")\s+(?:is|'s)\s+(?:now|officially)\s+(?:called|named|known\s+as)"
    r"\s+(?=(?P<rest>\S.*))",
    re.IGNORECASE,
)
# "We have a little parrot, Smokey"
_HAVE_PET_COMMA_RE = re.compile(
    r"(?:\b(?:i|we)(?:'ve|\s+have)?\s+(?:(?:just|also|finally|recently|now|still)\s+)?|^)"
    r"(?:have|got|own|adopted|rescued)\s+(?:a|an)\s+(?:[a-z]+\s+){0,2}?(?P<pet>" + _NAMED + r"),"
    r"\s+(?P<name>(?-i:[A-Z][a-z]+))(?=\s*(?:[,.!;)]|$)|\s+(?:who|and|she|he|it|that)\b)",
    re.IGNORECASE,
)
# "the kids decided the dog should be called Max", "we agreed to call the puppy Biscuit"
_DECIDED_NAME_RE = re.compile(
    r"\b(?:decided|agreed|voted|settled\s+on|chose)\s+(?:that\s+)?(?:the|my|our)\s+(?:[a-z]+\s+)?"
    r"(?P<pet>" + _PETS + r")\s+(?:should|would|will|shall|must|is\s+going\s+to|was\s+going\s+to)"
    r"\s+be\s+(?:called|named|renamed)\s+(?:to\s+)?(?=(?P<rest>\S.*))"
    r"|\b(?:decided|agreed|voted|chose)\s+to\s+(?:call|name|rename)\s+(?:the|my|our)\s+"
    r"(?:[a-z]+\s+)?(?P<pet2>" + _PETS + r")\s+(?:to\s+)?(?=(?P<rest2>\S.*))",
    re.IGNORECASE,
)
# Who may decide a pet's name: the speaker's household ("we", "the kids", "my wife and I").
_HOUSEHOLD = re.compile(
    r"(?:(?:so|and|well|oh|ok|okay|then|in\s+the\s+end|eventually)\s*,?\s+)*"
    r"(?:(?:i|we|everyone|everybody|(?:the|my|our)\s+(?:kids|children|family|son|daughter|boys|"
    r"girls|wife|husband|partner)|(?:my|our)\s+(?:wife|husband|partner|son|daughter)\s+and\s+i)"
    r"(?:\s+(?:all|both|finally|eventually|just|have|had|'ve))*)?",
    re.IGNORECASE,
)
_CHANGED_MIND = re.compile(
    r"\b(?:changed\s+(?:our|my|their)\s+minds?|but\s+then|instead|didn't|never\s+did)\b", re.I
)
_KIN_RE = re.compile(r"\b(?:" + _KIN + r"|friend|neighbou?r|mate|colleague)s?\b", re.IGNORECASE)
_MY_KIN_NAME_RE = re.compile(
    r"\b(?:my\s+(?:(?:new|little|sweet|lovely|young|baby|rescue|naughty|lazy)\s+)?(?P<kin>"
    + _NAMED
    + r")|our\s+(?:(?:new|little|sweet|lovely|young|baby|rescue|naughty|lazy)\s+)?(?P<pet>"
    + _PETS
    + r")),?\s+(?=(?P<rest>[A-Z][a-z]+\b))",
    re.IGNORECASE,
)
# "Max, my dog, ...", "Meet Luna, our new kitten!"
_APPOSITION_RE = re.compile(
    r",\s+(?:my|(?P<our>our))\s+(?:(?:new|little|sweet|lovely|young|baby|rescue|naughty|lazy)"
    r"\s+)?(?P<kin>" + _NAMED + r")\s*(?:[,.!;]|$)",
    re.IGNORECASE,
)
_NOT_NAMES = frozenset(
    """i is was has had and but or the a an my he she it they we you his her their its this
    that who which loves likes hates says said just also really always never still went got
    does did can could will would should might must mr mrs ms dr labrador poodle beagle
    husky terrier spaniel collie shepherd retriever dachshund chihuahua pug bulldog boxer
    corgi greyhound whippet persian siamese bengal ragdoll maine sphynx""".split()
)
# Words before a name that make it the person spoken to ("Thanks Tom my dog and I ...").
_VOCATIVE_LEAD = frozenset(
    """thanks thank you hi hey hello bye cheers sorry congrats congratulations dear yes no ok
    okay well oh and but so lol haha morning night""".split()
)


def _name_ok(name: str) -> bool:
    low = name.lower()
    if not name[:1].isupper() or low in _NOT_NAMES or low in _NOT_PROPER:
        return False
    return not (low in _MONTH_NAMES or low in _WEEKDAYS or low in _TIME_WORDS)


def _name_of_fact(start: int, sp: _Speaker, kin: str, name: str) -> _Fact:
    kin = " ".join(kin.lower().split())
    return _fact(start, f"name_of:{kin}", _norm(name), f"{sp.possessive} {kin} is called {name}.")


@_rule
def _name_of(sentence: str, sp: _Speaker, _ref: datetime | None, _msg: str) -> Iterator[_Fact]:
    for rx in _NAMED_RES:
        for m in rx.finditer(sentence):
            name = _name_value(m["rest"], capitalised=False)
            if name:
                yield _name_of_fact(m.start(), sp, m["kin"] or m["pet"], name)
    for m in _RENAME_RE.finditer(sentence):
        name = _name_value(m["rest"], capitalised=True)
        if name and _name_ok(name):
            yield _name_of_fact(m.start(), sp, m["pet"] or m["pet2"], name)
    for m in _DECIDED_NAME_RE.finditer(sentence):
        clause_at = max((b.end() for b in _NP_BOUNDARY.finditer(sentence, 0, m.start())), default=0)
        if not _HOUSEHOLD.fullmatch(sentence[clause_at : m.start()].strip()):
            continue  # "my sister / the vet decided the dog should be called Rex"
        if _CHANGED_MIND.search(sentence, m.end()):
            continue  # "... but then we changed our minds"
        name = _name_value(m["rest"] or m["rest2"], capitalised=True)
        if name and _name_ok(name):
            yield _name_of_fact(m.start(), sp, m["pet"] or m["pet2"], name)
    renamed = _RENAME_CUE.search(sentence) is not None
    own = list(_OWN_PET_RE.finditer(sentence))
    own_ends = [p.end() for p in own]
    for rx in (_NAMED_IT_RE, _NOW_NAMED_RE):
        if rx is _NOW_NAMED_RE and not renamed:
            continue  # "my cat is lovely, she's Persian": no name without a renaming
        for m in rx.finditer(sentence):
            pets = own[: bisect_right(own_ends, m.start())]
            if not pets or m.start() - pets[-1].end() > _WINDOW:
                continue  # no pet of the speaker's (near enough)
            if _KIN_RE.search(sentence, pets[-1].end(), m.start()):
                continue  # someone else in between ("my sister's dog")
            g = m.groupdict()
            if g.get("rest") is not None and m.group(0).lower().startswith("and"):
                if not re.match(r"(?:i|we)\b", pets[-1].group(0), re.IGNORECASE):
                    continue  # "... and named it X" continues "I adopted a ..."
            keys = ("rest", "rest2", "rest3", "rest4", "rest5")
            rest = next(g[k] for k in keys if g.get(k) is not None)
            name = _name_value(rest, capitalised=True)
            if name and _name_ok(name):
                pet = pets[-1]["pet"] or pets[-1]["pet2"] or pets[-1]["pet3"]
                yield _name_of_fact(m.start(), sp, pet, name)
    for m in _MY_KIN_NAME_RE.finditer(sentence):
        name = m["rest"]
        if _name_ok(name):
            yield _name_of_fact(m.start(), sp, m["kin"] or m["pet"], name)
    for m in _APPOSITION_RE.finditer(sentence):
        kin = m["kin"].lower()
        if m["our"] and not re.fullmatch(_PETS, kin):
            continue
        got = _proper_before(sentence, m.start())
        if got and len(got[1].split()) <= 2 and _name_ok(got[1].split()[0]):
            yield _name_of_fact(got[0], sp, kin, got[1])
    for m in _PAREN_APPOSITION_RE.finditer(sentence):
        kin = m["kin"].lower()
        if m["our"] and not re.fullmatch(_PETS, kin):
            continue
        got = _proper_before(sentence, m.start())
        if got and len(got[1].split()) <= 2 and _name_ok(got[1].split()[0]):
            yield _name_of_fact(got[0], sp, kin, got[1])
    for m in _NAME_MY_PET_RE.finditer(sentence):
        before = _words(sentence[: m.start()])
        if not before or before[-1] in _TWO_OBJECTS or before[-1] in _VOCATIVE_LEAD:
            continue  # "I told Anna my dog ...", "Thanks Tom my dog and I loved it"
        if not _name_ok(m["name"]):
            continue  # "Max my dog is ..." (a vocative?), "I told Anna my dog ..."
        yield _name_of_fact(m.start(), sp, m["pet"], m["name"])
    for m in _HAVE_PET_COMMA_RE.finditer(sentence):
        if _name_ok(m["name"]):
            yield _name_of_fact(m.start(), sp, m["pet"], m["name"])
    for m in _NAME_IS_MY_RE.finditer(sentence):
        kin = m["kin"] or m["pet"] or m["pet3"]
        if m["our"] and not re.fullmatch(_PETS, kin, re.IGNORECASE):
            continue
        got = _np_before(sentence, m.start(), proper=True)
        if got and len(got[1].split()) <= 2 and _name_ok(got[1].split()[0]):
            yield _name_of_fact(got[0], sp, kin, got[1])
    for m in _MY_PET_PAREN_RE.finditer(sentence):
        kin = m["kin"]
        if (m["our"] is None or re.fullmatch(_PETS, kin, re.IGNORECASE)) and _name_ok(m["name"]):
            yield _name_of_fact(m.start(), sp, kin, m["name"])
    for m in _THE_PET_NOW_RE.finditer(sentence):
        name = _name_value(m["rest"], capitalised=True)
        if name and _name_ok(name):
            yield _name_of_fact(m.start(), sp, m["pet"], name)


_FAV = r"(?:favou?rite|fave|fav)"
_FAV_ADJ = (
    r"(?:(?:all[-\s]time|absolute|very|current|new|personal|latest|top|ultimate|true|"
    r"number\s+one|total)\s+)?"
)
_FAVOURITE_RE = re.compile(
    r"\bmy\s+" + _FAV_ADJ + _FAV + r"\s+"
    r"(?P<thing>[a-z][\w'-]*(?:\s+[a-z][\w'-]*){0,4}?)(?:\s+|(?='))(?P<be>is|are|'s\s+(?:always\s+)?been|'s|has\s+to\s+be|"
    r"has\s+(?:now\s+)?become|has\s+(?:always\s+|now\s+|long\s+)?been|"
    r"have\s+(?:always\s+)?been|remains|(?P<would>would\s+(?:have\s+to\s+)?be|'d\s+(?:have\s+to\s+)?be))"
    r"\s+(?=(?P<rest>\S.*))",
    re.IGNORECASE,
)
# "my favourite colour has changed, it's green now", "... used to be red, but now it's green"
_FAVOURITE_CHANGED_RE = re.compile(
    r"\bmy\s+" + _FAV_ADJ + _FAV + r"\s+(?P<thing>[a-z][\w'-]*(?:\s+[a-z][\w'-]*){0,2}?)\s+"
    r"(?:has\s+changed|changed|is\s+different(?:\s+now)?|used\s+to\s+be\s+[^,;.!?]+|"
    r"was\s+[^,;.!?]+|isn't\s+[^,;.!?]+|is\s+no\s+longer\s+[^,;.!?]+|"
    r"(?:has|'s)\s+(?:always\s+|long\s+)?been\s+[^,;.!?]+?)"
    r"(?:\s*(?:[,;:—–]|\s-)\s*(?:(?:but|and|so)\s+)?|\s+(?:but|and|so)\s+)"
    r"(?:(?:now|these\s+days|nowadays|lately|recently)\s*,?\s*)?"
    r"(?:it's|it\s+is|it\s+has\s+become|it's\s+become)\s+(?=(?P<rest>\S.*))",
    re.IGNORECASE,
)
# "if I had to pick a favourite colour, it'd be burgundy"
_PICK_FAVOURITE_RE = re.compile(
    r"\bif\s+i\s+(?:had|have|were)\s+to\s+(?:pick|choose|name|say)\s+(?:a|an|one|my)\s+"
    r"(?:single\s+|all[-\s]time\s+)?"
    + _FAV
    + r"\s+(?P<thing>[a-z][\w'-]*(?:\s+[a-z][\w'-]*){0,2}?)"
    r"\s*,?\s*(?:it'd|it\s+would|that'd|that\s+would|i'd\s+(?:say|go\s+with|pick|choose)|"
    r"i\s+would\s+(?:say|go\s+with|pick|choose))\s+(?:(?:have\s+to\s+)?be\s+)?(?=(?P<rest>\S.*))",
    re.IGNORECASE,
)
# "I changed my favourite colour to green", "I've switched my fave food from pizza to pho"
_FAVOURITE_SET_RE = re.compile(
    rf"\bi(?:{_HAVE})?\s+{_ADV}(?:changed|switched|updated)\s+my\s+"
    + _FAV
    + r"\s+(?P<thing>[a-z][\w'-]*(?:\s+[a-z][\w'-]*){0,2}?)\s+(?:from\s+[^,;.!?]+?\s+)?to\s+"
    r"(?=(?P<rest>\S.*))",
    re.IGNORECASE,
)
# "blue has overtaken red as my favourite colour"
_FAVOURITE_OVER_RE = re.compile(
    r"\s+(?:has\s+|have\s+)?(?:now\s+|officially\s+|finally\s+)?(?:overtaken|replaced|taken\s+over\s+"
    r"from|beaten|dethroned|knocked\s+out|ousted|edged\s+out)\s+[^,;.!?]+?\s+(?:off\s+the\s+top\s+"
    r"spot\s+)?as\s+my\s+" + _FAV_ADJ + _FAV + r"\s+(?=(?P<rest>\S.*))",
    re.IGNORECASE,
)
# "<value> is / has become / has always been (by far) my (new) favourite <thing>"
_FAVOURITE_REV_RE = re.compile(
    r"(?:\s+(?P<be>is|are|has\s+become|have\s+become|became|has\s+(?:always\s+|long\s+)?been|"
    r"have\s+(?:always\s+|long\s+)?been|remains?)|(?P<s>'s))"
    r"\s+(?:(?:now|still|definitely|probably|easily|officially|always|really|honestly|"
    r"by\s+far|hands\s+down|without\s+(?:a\s+)?doubt|undoubtedly|currently|just|also|"
    r"quickly|fast|kind\s+of|kinda|officially)\s+)*"
    r"my\s+" + _FAV_ADJ + _FAV + r"\s+(?=(?P<rest>\S.*))",
    re.IGNORECASE,
)
_THING_TRAIL = re.compile(
    r"(?:\s+(?:ever|of\s+all(?:\s+time)?|by\s+far|in\s+the\s+world|on\s+earth|out\s+there|"
    r"at\s+the\s+(?:moment|minute)|these\s+days|right\s+now|now|nowadays|lately|currently|"
    r"for\s+now|so\s+far|this\s+(?:year|season|summer|winter|month|week)|of\s+the\s+moment|"
    r"to\s+(?:eat|drink|wear|watch|read|play|listen\s+to|cook|make|have)))+$",
    re.IGNORECASE,
)
_THING_LEAD = re.compile(r"^(?:kind|type|sort|genre|style|variety)\s+of\s+", re.IGNORECASE)
# One slot whatever the spelling ("favorite color" = "favourite colour").
_UK_SPELLING = {
    "color": "colour",
    "colors": "colours",
    "flavor": "flavour",
    "flavors": "flavours",
    "humor": "humour",
    "theater": "theatre",
    "theaters": "theatres",
    "center": "centre",
    "neighbor": "neighbour",
    "neighborhood": "neighbourhood",
    "harbor": "harbour",
    "jewelry": "jewellery",
    "donut": "doughnut",
    "donuts": "doughnuts",
}
_IE_NOUNS = frozenset(
    """movie cookie smoothie brownie pie tie zombie rookie selfie hippie indie genie foodie
    veggie birdie auntie goalie calorie hoodie beanie pixie""".split()
)
_UNCOUNTED = frozenset(
    """series species news clothes glasses jeans trousers pants shorts politics physics maths
    mathematics economics athletics gymnastics sports lyrics""".split()
)


_THING_TO = re.compile(r"^things?\s+to\s+(?P<v>eat|drink)\b", re.IGNORECASE)


def _thing_key(thing: str, *, plural: bool) -> str:
    """The favourite's slot name: UK spelling, singular, without "kind of"."""
    to = _THING_TO.match(thing)
    if to:
        return "food" if to["v"].lower() == "eat" else "drink"
    words = [_UK_SPELLING.get(w, w) for w in _norm(_THING_LEAD.sub("", thing)).split()]
    last = words[-1] if words else ""
    if plural and last.endswith("s") and last not in _UNCOUNTED and len(last) > 3:
        if last.endswith("ies") and last[:-1] in _IE_NOUNS:
            last = last[:-1]
        elif last.endswith("ies"):
            last = last[:-3] + "y"
        elif last.endswith(("ches", "shes", "xes", "sses", "zes", "oes")):
            last = last[:-2]
        elif not last.endswith(("ss", "us", "is")):
            last = last[:-1]
        words[-1] = last
    return " ".join(words)


_CLAUSE_WORDS = frozenset(
    """i i'm i'd i've you you're they they're they'd they've he she we don't doesn't didn't
    can't isn't haven't have has had do does did would could should think know say""".split()
)
_NOT_THING = frozenset("and or but so it it's that this which who i you he she they we".split())


def _favourite_fact(start: int, sp: _Speaker, thing: str, value: str, be: str) -> _Fact | None:
    thing = " ".join(_clause(thing).split())
    to = _THING_TO.match(thing)
    thing = to.group(0) if to else _THING_TRAIL.sub("", thing)
    _, value = _unhedge(value)
    value = _TRAILING_FILLER.sub("", value).strip(" ,")
    if not thing or len(_words(thing)) > 3 or not _ok_value(value):
        return None
    if re.match(r"(?:no\s+longer|not|never|no|none|nothing)\b", value, re.IGNORECASE):
        return None  # "my favourite colour is no longer red"
    if any(w in _CLAUSE_WORDS for w in _words(value)):
        return None  # "favourite colour: I don't have one"
    key = _thing_key(thing, plural=be == "are")
    if to:
        thing = key
    raw_last = _words(thing)[-1]
    raw_last = _UK_SPELLING.get(raw_last, raw_last)
    plural = be == "are" and key.split()[-1] != raw_last  # "colours" -> "colour"
    shown = " ".join([*key.split()[:-1], raw_last]) if plural else key
    verb = "are" if plural else "is"
    return _fact(
        start,
        f"favourite:{key}",
        _norm(value),
        f"{sp.possessive} favourite {shown} {verb} {value}.",
    )


# What "it" refers to in "nothing beats X, it's my favourite food".
_IT_BEFORE = re.compile(
    r"(?:[,;:—–]|\s-)\s*(?:(?:and|so|because|cause|'cause)\s+)?(?:it|that|this|they)\s*$",
    re.IGNORECASE,
)
_ANTECEDENT_RE = re.compile(
    rf"(?:\bnothing\s+(?:beats|tops|compares\s+to|comes\s+close\s+to)|\b(?:you\s+)?can't\s+beat|"
    rf"\bthere's\s+nothing\s+(?:like|better\s+than)|\bi\s+{_ADV}(?:love|adore|like|enjoy)|"
    rf"{_I_AM}\s+{_ADV}(?:obsessed\s+with|crazy\s+about|into|a\s+(?:big\s+|huge\s+)?fan\s+of)|"
    r"\bi\s+can't\s+get\s+enough\s+of)\s+(?P<x>[^,;:]+?)\s*$",
    re.IGNORECASE,
)


def _antecedent(sentence: str, end: int) -> tuple[int, str] | None:
    """The value an "it" that ends at ``end`` refers to, from the clause before it."""
    it = _IT_BEFORE.search(sentence[:end])
    if not it:
        return None
    head = sentence[: it.start()]
    m = _ANTECEDENT_RE.search(head)
    if m:
        x = _clause(m["x"])
        return (m.start("x"), x) if x else None
    return _np_before(sentence, it.start())


@_rule
def _favourite(sentence: str, sp: _Speaker, _ref: datetime | None, _msg: str) -> Iterator[_Fact]:
    changed = list(_FAVOURITE_CHANGED_RE.finditer(sentence))
    for m in _FAVOURITE_RE.finditer(sentence):
        if any(c.start() == m.start() for c in changed):
            continue  # "... has been red for years, but now it's blue": the new one only
        if m["would"] and not _PICK_HEDGE.search(sentence):
            continue  # "my favourite colour would be red if ...": a condition
        if any(w in _NOT_THING for w in _words(m["thing"])):
            continue  # "my favorite studio and it's calming": a clause, not a thing
        be = "are" if m["be"].lower() == "are" else "is"
        value = _third_person(_clause(m["rest"]))
        f = _favourite_fact(m.start(), sp, m["thing"], value, be)
        if f:
            yield f
    for m in changed:
        f = _favourite_fact(m.start(), sp, m["thing"], _third_person(_clause(m["rest"])), "is")
        if f:
            yield f
    for rx in (_PICK_FAVOURITE_RE, _FAVOURITE_SET_RE):
        for m in rx.finditer(sentence):
            value = _third_person(_clause(m["rest"]))
            f = _favourite_fact(m.start(), sp, m["thing"], value, "is")
            if f:
                yield f
    for m in _FAVOURITE_OVER_RE.finditer(sentence):
        got = _np_before(sentence, m.start())
        if got:
            f = _favourite_fact(got[0], sp, m["rest"], _third_person(got[1]), "is")
            if f:
                yield f
    for m in _FAVOURITE_REV_RE.finditer(sentence):
        got = _np_before(sentence, m.start()) or _antecedent(sentence, m.start())
        if not got:
            continue
        be = "are" if (m["be"] or "").lower() in ("are", "have become") else "is"
        f = _favourite_fact(got[0], sp, m["rest"], _third_person(got[1]), be)
        if f:
            yield f


# "new favorite color: coral", "new city new me: Lisbon", "new name for my rabbit: Rocky": a
# headline naming a slot, then its value after a colon (or "is" after a new name).
_HEAD_AT = r"(?:^|(?<=[,;:!—–])\s*|(?<=\s-)\s+|\b(?:and|so|also|ok|okay|btw|plus|oh)\s+)"
_HEAD_SEP = r"\s*(?:[:=—–]|\s-)\s*"
_HEADLINES: list[tuple[str, re.Pattern[str]]] = [
    (
        "favourite",
        re.compile(
            _HEAD_AT
            + r"(?:my\s+)?(?:(?P<new>new|current|latest|all[-\s]time|absolute|top|ultimate)\s+)*"
            + _FAV
            + r"\s+(?P<thing>[a-z][\w'-]*(?:\s+[a-z][\w'-]*){0,2}?)"
            + r"(?:"
            + _HEAD_SEP
            # "is" only after "new": "new favourite colour is teal", not "favourite tunes is enough"
            + r"|(?(new)\s+is\s+(?:now\s+)?|(?!)))(?=(?P<rest>\S.*))",
            re.IGNORECASE,
        ),
    ),
    (
        "lives_in",
        re.compile(
            _HEAD_AT
            + r"(?:my\s+)?(?:new|current)\s+(?:city|town|home(?:town)?|address|country|base|"
            r"location|digs)(?:\s*,?\s*new\s+(?:me|life|start|adventure|chapter))?"
            + _HEAD_SEP
            + r"(?=(?P<rest>\S.*))",
            re.IGNORECASE,
        ),
    ),
    (
        "works_at",
        re.compile(
            _HEAD_AT
            + r"(?:my\s+)?(?:new|current)\s+(?:(?:job|employer|company|workplace|gig)"
            + _HEAD_SEP
            + r"|(?:job|role|position|gig)\s+(?:at|with)\s+)(?=(?P<rest>\S.*))",
            re.IGNORECASE,
        ),
    ),
    (
        "name_of",
        re.compile(
            _HEAD_AT
            + r"(?:(?:the|a)\s+)?new\s+name\s+for\s+(?:my|our|the)\s+(?:[a-z]+\s+)?(?P<pet>"
            + _PETS
            + r")(?:"
            + _HEAD_SEP
            + r"|\s+is\s+)(?=(?P<rest>\S.*))",
            re.IGNORECASE,
        ),
    ),
]


@_rule
def _headline(sentence: str, sp: _Speaker, _ref: datetime | None, _msg: str) -> Iterator[_Fact]:
    for kind, rx in _HEADLINES:
        for m in rx.finditer(sentence):
            rest = m["rest"]
            if kind == "favourite":
                value = _third_person(_unhedge(_clause(rest))[1])
                f = _favourite_fact(m.start(), sp, m["thing"], value, "is")
                if f:
                    yield f
            elif kind == "lives_in":
                place = _place(rest, proper=True)
                if place and not _TRIP.search(sentence):
                    yield _lives_fact(m.start(), sp, place)
            elif kind == "works_at":
                org = _weak_org(rest, "proper", sentence, (m.start(), m.end()))
                if org:
                    yield _works_fact(m.start(), sp, "at", org)
            else:
                name = _name_value(rest, capitalised=True)
                if name and _name_ok(name):
                    yield _name_of_fact(m.start(), sp, m["pet"], name)


# What "it" stands for in "I used to hate curry but I love it now", "Tried goulash again last
# week and now I love it", "changed my mind about tofu, I like it now".
_NP_WORDS = r"(?P<x>[\w'-]+(?:\s+[\w'-]+){0,3}?)"
_IT_SOURCES = [
    re.compile(
        r"\bused\s+to\s+(?:really\s+)?(?:like|love|hate|dislike|enjoy|loathe|detest|adore|"
        r"(?:not\s+)?(?:like|stand)|can't\s+stand)\s+"
        + _NP_WORDS
        + r"(?=\s*(?:[,;]|$)|\s+(?:but|and|so|then)\b)",
        re.IGNORECASE,
    ),
    re.compile(
        r"\b(?:tried|tasted|had|ate|drank|gave)\s+"
        + _NP_WORDS
        + r"\s+(?:again|another\s+(?:go|try|"
        r"chance|shot)|a\s+(?:second\s+|another\s+)?(?:go|try|chance|shot)|for\s+the\s+first\s+time)\b",
        re.IGNORECASE,
    ),
    re.compile(
        r"\bchanged\s+my\s+mind\s+(?:about|on)\s+"
        + _NP_WORDS
        + r"(?=\s*(?:[,;:]|$)|\s+(?:but|and|so)\b)",
        re.IGNORECASE,
    ),
]


def _it_source(sentence: str, end: int) -> str | None:
    """The food or thing an "it" at ``end`` stands for, from earlier in the sentence."""
    found = [m for rx in _IT_SOURCES for m in rx.finditer(sentence, 0, end)]
    if not found:
        return None
    x = max(found, key=lambda m: m.start())["x"]
    x = strip_time_expressions(x) if find_time_windows(x, _PROBE_REF) else x
    x = _third_person(_TRAILING_FILLER.sub("", x).strip(" ,"))
    words = _words(x)
    if not words or words[0] in _PRONOUN_FIRST or any(w in _NP_BAD for w in words):
        return None
    if _PERSON_WORDS.search(x) or words[0] in _VAGUE_DETERMINERS:
        return None
    return x


_LIKE_VERB = r"(?P<verb>like|love|enjoy|prefer|adore|hate|dislike|detest|loathe)"
_LIKE_RE = re.compile(
    r"\bi\s+(?:(?:really|truly|absolutely|totally|honestly|also|still|just|actually|do|"
    r"kind\s+of|kinda|definitely|especially|generally|now|always|usually|sometimes|often|"
    r"genuinely|quite|much|so)\s+)*"
    r"(?P<neg>(?:don't|do\s+not|dont|no\s+longer|never|can't|cannot|can\s+not)\s+"
    r"(?:really\s+|particularly\s+|much\s+|even\s+)?)?"
    r"(?:" + _LIKE_VERB + r"|(?P<stand>stand))\s+(?=(?P<rest>\S.*))",
    re.IGNORECASE,
)
_FAN_RE = re.compile(
    rf"{_I_AM}\s+{_ADV}(?P<neg>not\s+)?(?:an?\s+)?(?:(?:big|huge|massive|great|real|true|"
    r"die-hard|diehard)\s+)?fan\s+of\s+(?=(?P<rest>\S.*))"
    rf"|{_I_AM}\s+(?:(?:really|very|super|so|totally|also|now)\s+)*into\s+(?=(?P<into>\S.*))",
    re.IGNORECASE,
)
_PREFER_CUT = re.compile(
    r"\s+(?:over|rather\s+than|instead\s+of|more\s+than|better\s+than|to|than)\s+", re.I
)
_LIKE_FILLERS = re.compile(
    r"(?:\s+(?:very\s+much|so\s+much|a\s+lot|the\s+most|best|more|most|as\s+much|that\s+much|"
    r"much|at\s+all|as\s+much\s+as\s+(?:i\s+used\s+to|before)))+$",
    re.IGNORECASE,
)
_THIRD_VERB = {
    "like": "likes",
    "love": "loves",
    "enjoy": "enjoys",
    "prefer": "prefers",
    "adore": "adores",
    "hate": "hates",
    "dislike": "dislikes",
    "detest": "detests",
    "loathe": "loathes",
}
_NEGATIVE_VERBS = frozenset({"hate", "dislike", "detest", "loathe"})


_PRONOUN_LAST = frozenset("it this that them these those him her one".split())


def _like_key(obj: str, *, prefer: bool = False) -> str | None:
    key = _LIKE_FILLERS.sub("", obj)
    if key.lower().startswith("to "):
        key = key[3:]
        first = (_words(key) or [""])[0]
        if first in _MENTAL_AFTER_TO:
            return None
    else:
        # "I prefer tea over coffee": the slot is the first thing ("to" and "than" only after
        # "prefer": "I love getting to know people" is about getting to know people).
        cut = _PREFER_CUT.search(key)
        if cut and (prefer or cut.group(0).strip().lower() not in ("to", "than")):
            key = key[: cut.start()]
    key = _norm(key)
    if not _ok_value(key) or _words(key)[-1] in _PRONOUN_LAST:
        return None  # "I love making this": the object is elsewhere
    return key


@_rule
def _likes(sentence: str, sp: _Speaker, _ref: datetime | None, _msg: str) -> Iterator[_Fact]:
    for m in _LIKE_RE.finditer(sentence):
        obj = _third_person(_clause(m["rest"]))
        if _words(obj) in (["it"], ["them"]):
            obj = _it_source(sentence, m.start()) or obj  # "I used to hate curry but I love it now"
        if not _ok_value(obj):
            continue
        key = _like_key(obj, prefer=(m["verb"] or "").lower() == "prefer")
        if key is None:
            continue
        neg = (m["neg"] or "").lower()
        if m["stand"]:
            if not neg.startswith(("can", "cannot")):
                continue
            says, value = "can't stand", "no"
        else:
            verb = m["verb"].lower()
            negative_verb = verb in _NEGATIVE_VERBS
            if not neg:
                says, value = _THIRD_VERB[verb], "no" if negative_verb else "yes"
            elif neg.startswith("no longer"):
                says, value = f"no longer {_THIRD_VERB[verb]}", "yes" if negative_verb else "no"
            elif neg.startswith("never"):
                continue  # "I never like ..." is a habit, rarely a preference; skipped
            elif neg.startswith(("can", "cannot")):
                continue
            else:
                says, value = f"does not {verb}", "yes" if negative_verb else "no"
        yield _fact(m.start(), f"likes:{key}", value, f"{sp.display} {says} {obj}.")
    for m in _FAN_RE.finditer(sentence):
        into = m["into"] is not None
        obj = _third_person(_clause(m["into"] if into else m["rest"]))
        if not _ok_value(obj, max_words=4 if into else MAX_VALUE_WORDS):
            continue
        if into and (obj[:1].isdigit() or _words(obj)[0] in ("the", "a", "an", "my", "it")):
            continue
        key = _norm(obj)
        if into:
            says, value = "is into", "yes"
        elif m["neg"]:
            says, value = "is not a fan of", "no"
        else:
            says, value = "is a fan of", "yes"
        yield _fact(m.start(), f"likes:{key}", value, f"{sp.display} {says} {obj}.")
    yield from _stances(sentence, sp)


_PRE_HAVE = rf"\bi(?:{_HAVE})?\s+{_ADV}"
_PRE_AM = rf"{_I_AM}\s+{_ADV}"
_INTENSIFIERS = (
    r"(?:(?:so|totally|completely|officially|kind\s+of|kinda|pretty\s+much|well\s+and\s+truly|"
    r"really|definitely|just\s+so|absolutely)\s+)+"
)
# Statements of a stance besides "I like / love / hate X": (pattern, value). The object is
# ``rest``; ``verb`` (when present) decides the value instead ("started to hate").
_STANCE_RES: list[tuple[re.Pattern[str], str]] = [
    # "I've never liked X", "I never cared for X" (not "... until I tried it", "... but now")
    (
        re.compile(
            rf"{_PRE_HAVE}never\s+(?:really\s+|much\s+|ever\s+)?(?:liked|enjoyed|cared\s+for|"
            r"been\s+(?:a\s+(?:big\s+|huge\s+)?fan\s+of|(?:really\s+)?into|keen\s+on|fond\s+of))\s+",
            re.IGNORECASE,
        ),
        "no",
    ),
    # "I've always loved X", "I've always hated X"
    (
        re.compile(
            rf"\bi{_HAVE}\s+(?:(?:honestly|really|just)\s+)?always\s+(?:really\s+)?"
            r"(?P<verb>liked|loved|enjoyed|adored|hated|disliked|detested|loathed)\s+",
            re.IGNORECASE,
        ),
        "yes",
    ),
    (re.compile(rf"{_PRE_HAVE}(?:come|came)\s+(?:round|around)\s+to\s+", re.I), "yes"),
    (
        re.compile(
            rf"(?:\bi{_HAVE}\s+{_ADV}(?:started|begun|grown|learned|learnt|come)|\bi\s+{_ADV}"
            rf"(?:started|began|grew|learned|learnt|came)|{_PRE_AM}(?:starting|beginning|growing|"
            r"learning|coming))\s+to\s+(?P<verb>like|love|enjoy|appreciate|hate|dislike)\s+"
            rf"|{_PRE_HAVE}(?:started|begun|began)\s+(?P<ing>liking|loving|enjoying|hating|"
            r"disliking)\s+",
            re.IGNORECASE,
        ),
        "yes",
    ),
    (re.compile(rf"\bi\s+{_ADV}(?:can't|cannot|can\s+not)\s+get\s+enough\s+of\s+", re.I), "yes"),
    (
        re.compile(
            rf"{_PRE_AM}(?:obsessed\s+with|crazy\s+about|hooked\s+on|addicted\s+to|"
            r"(?:an?\s+)?(?:real\s+|total\s+|huge\s+|big\s+)?sucker\s+for|(?:very\s+|quite\s+)?"
            r"(?:keen\s+on|fond\s+of)|partial\s+to|loving|liking)\s+",
            re.IGNORECASE,
        ),
        "yes",
    ),
    (re.compile(rf"{_PRE_HAVE}(?:fallen|fell)\s+in\s+love\s+with\s+", re.I), "yes"),
    # "I've developed a taste for X", "I've become a big fan of X", "I'm big on X"
    (
        re.compile(
            rf"{_PRE_HAVE}(?:developed|acquired|got)\s+(?:a|quite\s+a)\s+(?:real\s+)?taste\s+for\s+"
            rf"|{_PRE_HAVE}become\s+(?:a\s+)?(?:(?:big|huge|real|massive)\s+)?fan\s+of\s+"
            rf"|{_PRE_AM}(?:really\s+)?big\s+on\s+",
            re.IGNORECASE,
        ),
        "yes",
    ),
    (re.compile(rf"{_PRE_HAVE}(?:really\s+)?warmed\s+(?:up\s+)?to\s+", re.I), "yes"),
    (
        re.compile(
            rf"\bi{_HAVE}\s+{_ADV}been\s+{_ADV}(?:into|loving|obsessed\s+with|hooked\s+on)\s+", re.I
        ),
        "yes",
    ),
    (re.compile(r"\bnothing\s+(?:beats|tops|compares\s+to|comes\s+close\s+to)\s+", re.I), "yes"),
    (
        re.compile(
            rf"{_I_AM}\s+(?:not|no\s+longer)\s+(?:(?:really|very|that|too|particularly|so|all\s+"
            r"that|exactly|remotely)\s+)?(?:keen\s+on|fond\s+of|into|crazy\s+about|obsessed\s+"
            r"with|a\s+fan\s+of|(?:a\s+)?big\s+on)\s+",
            re.IGNORECASE,
        ),
        "no",
    ),
    (re.compile(rf"{_I_AM}\s+{_INTENSIFIERS}over\s+", re.IGNORECASE), "no"),
    (
        re.compile(
            rf"{_PRE_HAVE}(?:gone|went)\s+(?:right\s+|completely\s+|totally\s+|a\s+bit\s+|"
            r"kind\s+of\s+|kinda\s+|off\s+)?off\s+",
            re.IGNORECASE,
        ),
        "no",
    ),
    (
        re.compile(
            rf"{_PRE_HAVE}(?:lost\s+(?:my\s+|all\s+)?(?:taste|appetite)\s+for|lost\s+(?:all\s+)?"
            r"interest\s+in|had\s+enough\s+of|(?:stopped|quit)\s+(?:liking|enjoying|loving))\s+",
            re.IGNORECASE,
        ),
        "no",
    ),
    (
        re.compile(rf"{_PRE_AM}(?:(?:sick|tired|bored)\s+(?:of|with)|fed\s+up\s+with)\s+", re.I),
        "no",
    ),
]
_NEVER_UNTIL = re.compile(
    r"\b(?:but|until|till|now|any\s*more|these\s+days|before|as\s+a\s+(?:kid|child|teenager)|"
    r"growing\s+up|then|changed)\b",
    re.IGNORECASE,
)
# "I could eat X every day": a liking.
_COULD_EAT_RE = re.compile(
    r"\bi\s+could\s+(?:(?:honestly|happily|literally|easily|probably|seriously)\s+)?"
    r"(?P<v>eat|have|drink|live\s+on|live\s+off)\s+(?P<x>[^,;.!?]+?)\s+(?P<when>every\s+(?:single\s+)?"
    r"(?:day|meal|night|week)|all\s+day(?:\s+long)?|forever|daily|for\s+every\s+meal|"
    r"for\s+(?:breakfast,\s+)?lunch\s+and\s+dinner)\b",
    re.IGNORECASE,
)
# "Sushi: love it", "olives - can't stand them" (a "?" before is read as a colon, see
# _join_fragments)
_NP_STANCE_RE = re.compile(
    r"^\s*(?P<x>[^,:;—–?!.]{1,40}?)\s*(?:[:—–]|\s-)\s+(?:i\s+)?(?:(?:really|absolutely|totally|just|"
    r"honestly|still)\s+)*(?P<verb>love|adore|like|enjoy|hate|detest|loathe|can't\s+stand|"
    r"don't\s+(?:really\s+)?like|can't\s+get\s+enough\s+of)\s+(?:it|them)\b",
    re.IGNORECASE,
)
# "I used to like beer but not anymore", "used to hate tofu, not any more"
_USED_TO_NOT_RE = re.compile(
    r"(?:\bi\s+|^)used\s+to\s+(?:really\s+)?(?P<verb>like|love|enjoy|adore|hate|dislike|detest|loathe)"
    r"\s+(?P<x>[^,;.!?]+?)\s*,?\s+(?:but\s+)?(?:(?:not|no\s+longer)|(?:i\s+)?(?:don't|do\s+not))\s+"
    r"(?:any\s*more|any\s+longer|these\s+days|now|so\s+much)\b",
    re.IGNORECASE,
)
# "Ugh, burritos, no thanks" (a full stop after the noun is read as a comma, see _join_fragments)
_UGH_RE = re.compile(
    r"^\s*(?:ugh+|urgh+|eww*|yuck|yuk|blech|bleh|bleugh|gross|nope)\b[\s,!.]+(?P<x>[^,.!?;]{1,40}?)"
    r"[\s,.!]+(?:no\s+thanks|no\s+thank\s+you|hard\s+pass|pass|never\s+again|not\s+for\s+me|"
    r"no\s+way)\b",
    re.IGNORECASE,
)
# Objects that make these idioms something else ("I'm over the moon", "I went off to Paris").
_STANCE_NOT_OBJECT = re.compile(
    r"^(?:to|on|at|with|in|into|for|and|about|the\s+(?:moon|rails|grid|deep\s+end|road|radar|"
    r"script|map|top|record|air|hook|edge|limit|line|hill)|here|there|\d)\b",
    re.IGNORECASE,
)
# "<X> doesn't agree with me", "<X> has never been my thing", "<X> is (really) my thing",
# "<X> has grown on me": the object comes first.
_STANCE_AFTER_RES: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(
            r"\s+(?:(?:just|really|simply|honestly)\s+)?(?:doesn't|does\s+not|don't|do\s+not|"
            r"no\s+longer|never)\s+(?:really\s+|seem\s+to\s+|seems\s+to\s+)?agrees?\s+with\s+"
            r"me\b(?=\s*(?:$|[,;.!]|(?:\s+(?:any\s*more|these\s+days|lately|at\s+all|now|either|"
            r"sadly|unfortunately|though))+\s*(?:$|[,;.!])))",
            re.IGNORECASE,
        ),
        "no",
    ),
    (
        re.compile(
            r"\s+(?:(?:has|have)\s+never\s+been|(?:was|were)\s+never|(?:is|are)\s+not|isn't|"
            r"aren't|'s\s+not|(?:is|are)\s+no\s+longer|(?:is|are)\s+never)\s+(?:really\s+|quite\s+|"
            r"exactly\s+|actually\s+|ever\s+)?my\s+(?:thing|cup\s+of\s+tea|jam|scene)\b",
            re.IGNORECASE,
        ),
        "no",
    ),
    (
        re.compile(
            r"(?:\s+(?:is|are|has\s+always\s+been|have\s+always\s+been|has\s+become|"
            r"have\s+become|became)|'s)\s+(?:(?:really|totally|definitely|very\s+much|so|more|now|"
            r"still|absolutely|kind\s+of|kinda|just)\s+)*(?:my\s+(?:thing|jam|cup\s+of\s+tea|"
            r"(?:(?:biggest|secret|guilty)\s+)+pleasure)|a\s+guilty\s+pleasure(?:\s+of\s+mine)?)\b",
            re.IGNORECASE,
        ),
        "yes",
    ),
    (
        re.compile(
            r"(?:\s+(?:has|have|is|are)|'s)\s+(?:really\s+|definitely\s+|slowly\s+|kind\s+of\s+|"
            r"kinda\s+|totally\s+)?(?:grown|growing)\s+on\s+me\b",
            re.IGNORECASE,
        ),
        "yes",
    ),
]
_STANCE_AFTER_RES += [
    (
        re.compile(
            r"(?:\s+(?:just|really|simply|honestly|definitely|totally))?"
            r"(?:\s+(?:is|are)\s+(?:just\s+|really\s+|simply\s+|definitely\s+)?not|\s+isn't|"
            r"\s+aren't|'s\s+not)\s+(?:really\s+|just\s+|quite\s+)?for\s+me\b"
            r"(?=\s*(?:$|[,;.!]|(?:\s+(?:any\s*more|these\s+days|now|either|sadly|though))+\s*(?:$|[,;.!])))",
            re.IGNORECASE,
        ),
        "no",
    ),
]
# "falafel is disgusting (imo)", "risotto makes me feel sick": a taste, said of a bare noun
# (not "the / this / my ..."), in the present tense.
_TASTE_AFTER_RES: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(
            r"(?:\s+(?:is|are)|'s|'re)\s+(?:(?:just|so|absolutely|totally|really|honestly|pretty|"
            r"frankly|truly|utterly|completely|kind\s+of|kinda|super)\s+)*"
            r"(?P<adj>disgusting|gross|revolting|vile|nasty|yucky|rank|foul|inedible|overrated)\b",
            re.IGNORECASE,
        ),
        "no",
    ),
    (
        re.compile(
            r"\s+(?:tastes?|smells?)\s+(?:(?:just|so|absolutely|really|pretty)\s+)*"
            r"(?P<adj>disgusting|gross|revolting|vile|nasty|awful|horrible|terrible|foul)\b",
            re.IGNORECASE,
        ),
        "no",
    ),
    (
        re.compile(
            r"\s+tastes?\s+(?:(?:just|so|absolutely|really|pretty|incredibly)\s+)*"
            r"(?P<adj>amazing|great|incredible|delicious|wonderful|heavenly|so\s+good)\b",
            re.IGNORECASE,
        ),
        "yes",
    ),
    (
        re.compile(
            r"(?:\s+(?:is|are)|'s|'re)\s+(?:(?:just|so|absolutely|totally|really|honestly|pretty|"
            r"truly|super|incredibly)\s+)*(?P<adj>delicious|yummy|tasty|scrumptious|delish)\b"
            r"(?!\s+(?:is|was|has|in|at|of|for|to)\b)",
            re.IGNORECASE,
        ),
        "yes",
    ),
    (
        re.compile(
            r"\s+(?:just\s+|really\s+|always\s+|now\s+)*makes?\s+me\s+(?:feel\s+)?(?:so\s+|really\s+)?"
            r"(?:sick|ill|nauseous|queasy|gag|want\s+to\s+(?:gag|throw\s+up|puke))\b",
            re.IGNORECASE,
        ),
        "no",
    ),
]
_STOMACH = re.compile(r"\b(?:any\s*more|any\s+longer|these\s+days|lately|stomach)\b", re.I)
_PERSON_WORDS = re.compile(
    r"\b(?:" + _KIN + r"|" + _PETS + r"|friends?|people|everyone|everybody|anyone|anybody|"
    r"nobody|no\s+one|colleagues?|coworkers?|team|neighbou?rs?|doctor|teacher|he|she|they|him|them)\b",
    re.IGNORECASE,
)
_SUBJECT_WORD = re.compile(r"^(?:i'm|i\s+am|im|i've|i\s+have|i)\s+", re.IGNORECASE)


def _says(trigger: str) -> str:
    """The trigger in the third person, without the subject: "I've come round to" -> "has
    come round to", "I'm sick of" -> "is sick of"."""
    trigger = " ".join(trigger.split())
    m = _SUBJECT_WORD.match(trigger)
    if not m:
        return trigger.lower()
    subj = m.group(0).strip().lower()
    rest = trigger[m.end() :].lower()
    if subj in ("i'm", "i am", "im"):
        return f"is {rest}"
    if subj in ("i've", "i have"):
        return f"has {rest}"
    return rest


# "I'm a huge jazz fan", "I'm not a coffee fan"
_X_FAN_RE = re.compile(
    rf"{_I_AM}\s+{_ADV}(?P<neg>not\s+|no\s+longer\s+)?(?:really\s+)?(?:an?\s+)?(?:(?:big|huge|massive|"
    r"great|real|true|die-hard|diehard|massive|lifelong|total)\s+)?(?P<x>[a-z][\w'-]*(?:\s+[a-z][\w'-]*)?)"
    r"\s+(?:fan|lover|addict|fiend|nut|junkie)\b(?!\s+of\b)",
    re.IGNORECASE,
)
_NOT_FAN_OBJECT = frozenset("big huge massive great real true total fan not no a an the".split())


def _stances(sentence: str, sp: _Speaker) -> Iterator[_Fact]:
    for m in _X_FAN_RE.finditer(sentence):
        x = m["x"]
        if _words(x)[0] in _NOT_FAN_OBJECT or _words(x)[0] in _PRONOUN_FIRST:
            continue
        neg = bool(m["neg"])
        obj = _third_person(x)
        yield _fact(
            m.start(),
            f"likes:{_norm(obj)}",
            "no" if neg else "yes",
            f"{sp.display} is {'not ' if neg else ''}a fan of {obj}.",
        )
    for rx, value in _STANCE_RES:
        for m in rx.finditer(sentence):
            rest = sentence[m.end() :]
            if _STANCE_NOT_OBJECT.match(rest):
                continue
            obj = _third_person(_clause(rest))
            if not _ok_value(obj):
                continue
            key = _like_key(obj)
            if key is None:
                continue
            if " never " in f" {m.group(0).lower()} " and _NEVER_UNTIL.search(rest):
                continue  # "I never liked olives until I tried them in Greece"
            if " always " in f" {m.group(0).lower()} " and _NEVER_UNTIL.search(rest):
                continue  # "I've always hated olives, but now I love them"
            if re.search(r"\b(?:never|always)\b", m.group(0), re.I) and _PERSON_WORDS.search(obj):
                continue  # "I've never liked my boss": a person, no taste
            verb = (m.groupdict().get("verb") or m.groupdict().get("ing") or "").lower()
            stance = "no" if verb.startswith(("hat", "dislik", "detest", "loath")) else value
            said = _says(m.group(0))
            content = (
                f"For {sp.display}, {said} {obj}."
                if said.startswith("nothing")
                else f"{sp.display} {said} {obj}."
            )
            yield _fact(m.start(), f"likes:{key}", stance, content)
    for rx, value in _STANCE_AFTER_RES:
        for m in rx.finditer(sentence):
            got = _np_before(sentence, m.start())
            if not got or _PERSON_WORDS.search(got[1]):
                continue
            said = " ".join(m.group(0).split())
            first = _words(got[1])[0]
            if said.endswith("for me") and first in _VAGUE_DETERMINERS | {"the"}:
                continue  # "the parcel isn't for me": not a taste
            initial = got[0] == 0 and len(got[1].split()) == 1  # "Dairy doesn't agree ..."
            if "agree" in said and _proper(got[1]) and not initial:
                if not _STOMACH.search(sentence, m.end()):
                    continue  # "..., Tom doesn't agree with me": an opinion, not a stomach
            np = _third_person(got[1])
            key = _like_key(np)
            if key is None:
                continue
            said = re.sub(r"\bme\b", sp.display, said)
            said = re.sub(r"\bmy\b", sp.possessive, said)
            sep = "" if said.startswith("'") else " "
            yield _fact(got[0], f"likes:{key}", value, f"{_cap(np)}{sep}{said}.")
    for m in _COULD_EAT_RE.finditer(sentence):
        if any(w in _HYPOTHETICAL or w in ("were", "unless") for w in _words(sentence[m.end() :])):
            continue  # "I could eat pizza every day if I were rich"
        obj = _third_person(_clause(m["x"]))
        key = _like_key(obj) if _ok_value(obj, max_words=4) else None
        if key is not None and not any(w in _NP_BAD for w in _words(obj)):
            said = f"could {' '.join(m['v'].lower().split())} {obj} {m['when'].lower()}"
            yield _fact(m.start(), f"likes:{key}", "yes", f"{sp.display} {said}.")
    for m in _NP_STANCE_RE.finditer(sentence):
        obj = _third_person(m["x"].strip())
        words = _words(obj)
        if not words or len(words) > 3 or any(w in _NP_BAD for w in words):
            continue
        if words[0] in _PRONOUN_FIRST or words[0] in _NOT_PROPER or _PERSON_WORDS.search(obj):
            continue
        if _proper(obj) and len(words) > 1:
            continue  # "Tom Smith - love him"
        key = _like_key(obj)
        if key is not None:
            verb = " ".join(m["verb"].lower().split())
            value = (
                "no"
                if verb in ("hate", "detest", "loathe", "can't stand") or "don't" in verb
                else "yes"
            )
            shown = obj[:1].lower() + obj[1:] if len(words) == 1 else obj
            says = {"don't like": "does not like", "don't really like": "does not really like"}.get(
                verb, verb if verb.startswith("can't") else _THIRD_VERB.get(verb, verb)
            )
            yield _fact(m.start("x"), f"likes:{key}", value, f"{sp.display} {says} {shown}.")
    for m in _USED_TO_NOT_RE.finditer(sentence):
        obj = _third_person(_clause(m["x"]))
        key = _like_key(obj) if _ok_value(obj) else None
        if key is None or _PERSON_WORDS.search(obj) or _proper(obj):
            continue  # "I used to like Tom but not anymore": a person
        verb = m["verb"].lower()
        was_negative = verb in _NEGATIVE_VERBS
        says = "no longer dislikes" if was_negative else f"no longer {_THIRD_VERB[verb]}"
        yield _fact(
            m.start(),
            f"likes:{key}",
            "yes" if was_negative else "no",
            f"{sp.display} {says} {obj}.",
        )
    for m in _UGH_RE.finditer(sentence):
        obj = _third_person(m["x"].strip())
        words = _words(obj)
        if not words or len(words) > 4 or any(w in _NP_BAD for w in words):
            continue
        if _PERSON_WORDS.search(obj) or words[0] in _VAGUE_DETERMINERS or _proper(obj):
            continue  # "Ugh, Tom. No thanks.": a person
        key = _like_key(obj)
        if key is not None:
            yield _fact(m.start("x"), f"likes:{key}", "no", f"{sp.display} does not like {obj}.")
    for rx, value in _TASTE_AFTER_RES:
        for m in rx.finditer(sentence):
            got = _np_before(sentence, m.start())
            if not got or _PERSON_WORDS.search(got[1]):
                continue  # "my boss makes me sick"
            initial = got[0] == 0 and len(got[1].split()) == 1  # "Falafel is gross."
            if _proper(got[1]) and not initial:
                continue  # "..., Tom is gross": a person
            if _words(got[1])[0] in _VAGUE_DETERMINERS | {"the"} or len(_words(got[1])) > 3:
                continue  # "the parcel is gross", "this soup is delicious": one thing, no taste
            np = _third_person(got[1])
            key = _like_key(np)
            if key is None:
                continue
            adj = m.groupdict().get("adj")
            shown = np if got[0] != 0 or len(np.split()) > 1 else np[:1].lower() + np[1:]
            if adj:
                content = f"{sp.display} finds {shown} {' '.join(adj.lower().split())}."
            else:
                said = re.sub(r"\bme\b", sp.display, " ".join(m.group(0).split()))
                content = f"{_cap(np)} {said}."
            yield _fact(got[0], f"likes:{key}", value, content)


_HAS_RE = re.compile(
    r"\bi\s+(?:(?:also|still|now|actually|do|already|currently)\s+)*"
    r"(?P<neg>(?:don't|do\s+not|dont|no\s+longer)\s+)?"
    r"(?P<verb>have\s+got|have|own)\s+(?=(?P<rest>(?:" + _COUNT_ALT + r")\s+\S.*))"
    r"|\bi've\s+got\s+(?=(?P<rest2>(?:" + _COUNT_ALT + r")\s+\S.*))",
    re.IGNORECASE,
)
_HAS_STOPS = re.compile(
    r"\s+(?:called|named|who|which|that|with|at|in|from|for|since|to|whose|on)\b", re.IGNORECASE
)
_HAS_SPLIT = re.compile(r"\s*(?:,\s*(?:and\s+)?|\s+and\s+)(?=(?:" + _COUNT_ALT + r")\s)", re.I)
_HAS_ITEM = re.compile(r"^(?P<det>" + _COUNT_ALT + r")\s+(?P<obj>\S.*)$", re.IGNORECASE)
_IRREGULAR_PLURALS = {
    "children": "child",
    "kids": "kid",
    "people": "person",
    "men": "man",
    "women": "woman",
    "mice": "mouse",
    "geese": "goose",
    "feet": "foot",
    "teeth": "tooth",
    "fish": "fish",
    "sheep": "sheep",
}


def _singular(noun: str) -> str:
    words = noun.split()
    if not words:
        return noun
    last = words[-1]
    if last in _IRREGULAR_PLURALS:
        last = _IRREGULAR_PLURALS[last]
    elif last.endswith("ies") and len(last) > 4:
        last = last[:-3] + "y"
    elif last.endswith(("ches", "shes", "xes", "sses", "zes")):
        last = last[:-2]
    elif last.endswith("s") and not last.endswith(("ss", "us", "is")) and len(last) > 3:
        last = last[:-1]
    return " ".join([*words[:-1], last])


@_rule
def _has(sentence: str, sp: _Speaker, _ref: datetime | None, _msg: str) -> Iterator[_Fact]:
    for m in _HAS_RE.finditer(sentence):
        rest = m["rest"] if m["rest"] is not None else m["rest2"]
        body = _clause(rest)
        neg = bool(m["neg"])
        verb = "own" if (m["verb"] or "").lower() == "own" else "have"
        for part in _HAS_SPLIT.split(body):
            im = _HAS_ITEM.match(part.strip())
            if not im:
                continue
            det = im["det"].lower()
            obj = im["obj"]
            stop = _HAS_STOPS.search(obj)
            obj = _third_person(_clause(obj[: stop.start()] if stop else obj))
            words = _words(obj)
            if not words or len(words) > 4 or words[0] in _HAS_SKIP or not _ok_value(obj):
                continue
            if words[-1] in _HAS_SKIP:
                continue
            value = "no" if neg else _COUNTS.get(det, det)
            key = _norm(obj)
            if value not in ("yes", "no"):
                key = _singular(key)
            says = ("does not " + verb) if neg else ("owns" if verb == "own" else "has")
            yield _fact(m.start(), f"has:{key}", value, f"{sp.display} {says} {im['det']} {obj}.")


_ALLERGIC_RE = re.compile(
    rf"{_I_AM}\s+(?:(?:also|very|severely|mildly|slightly|really|so|super|deathly|highly)\s+)*"
    r"(?P<neg>not\s+)?allergic\s+to\s+(?=(?P<rest>\S.*))",
    re.IGNORECASE,
)
_LIST_SPLIT = re.compile(r"\s*(?:,\s*(?:and\s+|or\s+)?|\s+and\s+|\s+or\s+|\s*/\s*)", re.I)
_ALLERGY_CLAUSE_END = re.compile(
    r"\s*(?:[;:!?()\[\]\"“”—–]|\s-\s|\.(?:\s|$))"
    r"|\s+(?:but|because|since|although|though|which|so|if|when)\b",
    re.IGNORECASE,
)


@_rule
def _allergic(sentence: str, sp: _Speaker, _ref: datetime | None, _msg: str) -> Iterator[_Fact]:
    for m in _ALLERGIC_RE.finditer(sentence):
        end = _ALLERGY_CLAUSE_END.search(m["rest"])
        body = m["rest"][: end.start()] if end else m["rest"]
        neg = bool(m["neg"])
        for part in _LIST_SPLIT.split(body):
            item = _third_person(_clause(part))
            if not item or not _ok_value(item, max_words=4):
                continue
            yield _fact(
                m.start(),
                f"allergic_to:{_norm(item)}",
                "no" if neg else "yes",
                f"{sp.display} is {'not ' if neg else ''}allergic to {item}.",
            )


_BIRTHDAY_RE = re.compile(
    r"\bmy\s+birthday\s+is\s+(?:on\s+)?(?=(?P<rest>\S.*))"
    r"|\bi\s+was\s+born\s+on\s+(?:the\s+)?(?=(?P<born>\S.*))",
    re.IGNORECASE,
)
_BORN_IN_RE = re.compile(r"\bi\s+was\s+born\s+in\s+(?=(?P<rest>\S.*))", re.IGNORECASE)
_YEAR_RE = re.compile(r"^(?:1[89]|20)\d\d$")


def _day_value(text: str, ref: datetime | None) -> tuple[str, str] | None:
    """(normalised value, display) of a birthday: "may 9" / "May 9"."""
    words = _words(text)
    if not words or len(words) > 5:
        return None
    if ref is not None:
        windows = find_time_windows(text, ref)
        if len(windows) == 1:
            w = windows[0]
            if (w.end - w.start).days == 1 and w.start.hour == 0 and w.kind == "relative":
                d: date = w.start.date()
                return f"{d:%B} {d.day}".lower(), f"{d:%B} {d.day}"
    if any(w in _MONTH_NAMES for w in words) or any(ch.isdigit() for ch in text):
        return _norm(text), text
    return None


@_rule
def _birthday(sentence: str, sp: _Speaker, ref: datetime | None, _msg: str) -> Iterator[_Fact]:
    for m in _BIRTHDAY_RE.finditer(sentence):
        raw = _clause(m["rest"] if m["rest"] is not None else m["born"], keep_time=True)
        if m["born"] is not None and _YEAR_RE.match(raw):
            continue  # "born on 1990"? not a date
        got = _day_value(raw, ref)
        if got:
            yield _fact(m.start(), "birthday", got[0], f"{sp.possessive} birthday is {got[1]}.")
    for m in _BORN_IN_RE.finditer(sentence):
        year = m["rest"][:4]
        raw = year if _YEAR_RE.match(year) else _clause(m["rest"], _PLACE_STOPS)
        if _YEAR_RE.match(raw):
            yield _fact(m.start(), "birth_year", raw, f"{sp.display} was born in {raw}.")
        else:
            place = _third_person(raw)
            if _ok_place(place):
                yield _fact(
                    m.start(), "born_in", _norm(place), f"{sp.display} was born in {place}."
                )


_AGE_RE = re.compile(
    rf"{_I_AM}\s+(?:now\s+|already\s+|just\s+)?(?P<n>\d{{1,3}})"
    r"(?:\s*(?:years?|yrs?)(?:\s+old)?|\s*y/?o)?"
    r"(?=\s*(?:$|[,;!]|\.(?:\s|$)|\s(?:and|but|now|today|this|as\s+of|so)\b))"
    r"|\bi\s+(?:just\s+|recently\s+)?turned\s+(?P<t>\d{1,3})\b"
    r"(?!\s*(?:%|°|degrees|pages?|km|miles?|minutes?|hours?|pounds?|kg|lbs?|points?|times?))",
    re.IGNORECASE,
)


@_rule
def _age(sentence: str, sp: _Speaker, _ref: datetime | None, _msg: str) -> Iterator[_Fact]:
    for m in _AGE_RE.finditer(sentence):
        n = m["n"] or m["t"]
        if 1 <= int(n) <= 120:
            yield _fact(m.start(), "age", str(int(n)), f"{sp.display} is {int(n)} years old.")


# ------------------------------------------------------------------------------ episodic

_EVENT_RE = re.compile(
    r"\b(?P<subj>i|we)\s+(?P<adv>(?:(?:just|finally|also|actually|recently|already|even|first|"
    r"then|once|really|both|all|eventually|officially|briefly|spontaneously|quickly|happily|"
    r"proudly|successfully|suddenly|accidentally|randomly|luckily|unfortunately|literally)\s+)*)"
    r"(?P<verb>[a-z]+)\b(?=(?P<rest>.*))",
    re.IGNORECASE,
)
_EVENT_END = re.compile(
    r"\s*(?:[;:!?()\[\]\"“”—–]|\s-\s|\.(?:\s|$))"
    r"|\s*,?\s+(?:but|because|although|though|whereas|which|so\s+(?=i|we)|and\s+(?=(?:i|we|my|"
    r"he|she|they|it|it's|you|then\s+(?:i|we))\b))"
    r"|\s*,\s+(?=(?:i|we|my|he|she|they|it|you)\b)"
    r"|\s*,?\s+(?:and\s+)?then\s+(?=(?:i|we|my|he|she|they|it|you)\b)",
    re.IGNORECASE,
)


def _is_past(verb: str) -> bool:
    v = verb.lower()
    if v in _IRREGULAR_PAST:
        return True
    return len(v) > 4 and v.endswith("ed") and not v.endswith("eed")


def _events(
    sentence: str, sp: _Speaker, ref: datetime | None
) -> Iterator[tuple[int, str, datetime | None]]:
    """(position, content, occurred_at) for each past first-person event in ``sentence``."""
    windows = find_time_windows(sentence, ref) if ref else []
    has_time = bool(windows) or (ref is None and bool(find_time_windows(sentence, _PROBE_REF)))
    for m in _EVENT_RE.finditer(sentence):
        verb = m["verb"]
        rest = m["rest"]
        if not _is_past(verb) or _blocked(sentence, m.start()):
            continue
        low = verb.lower()
        if low == "used" or (low == "had" and re.match(r"\s+to\b", rest)):
            continue
        if low in ("was", "were") and re.match(r"\s+born\b", rest, re.IGNORECASE):
            continue  # a birth date or place is a fact (birthday, birth_year, born_in)
        is_event = low in _EVENT_VERBS or (low == "got" and _GOT_EVENT.match(rest) is not None)
        if not (has_time or is_event):
            continue
        end = _EVENT_END.search(rest)
        tail = rest[: end.start()] if end else rest
        tail = tail.rstrip(" ,;:.!?\"'”’")
        # The clause's own time expression dates it; else the sentence's first one.
        own = find_time_windows(tail, ref) if ref is not None and tail else []
        when = own[0].start if own else windows[0].start if windows else ref
        if ref is not None and tail and find_time_windows(tail, _PROBE_REF):
            tail = " " + strip_time_expressions(tail) if tail.strip() else tail
            tail = tail.rstrip(" ,;:.!?")
        if not has_time and not _words(tail):
            continue
        subj = sp.display if m["subj"].lower() == "i" else f"{sp.display} and others"
        adv = " ".join(m["adv"].split())
        body = f"{subj} {adv + ' ' if adv else ''}{verb}{_third_person(tail)}"
        body = " ".join(body.split())
        yield m.start(), _cap(body.rstrip(" ,") + "."), when


# ------------------------------------------------------------------------------ procedural

_NUMBERED_RE = re.compile(
    r"^(?P<indent>\s*)(?:step\s*)?(?P<n>\d{1,3})\s*[.):]\s+(?P<text>\S.*)$", re.I
)
_STEP_WORD_RE = re.compile(
    r"^(?P<indent>\s*)step\s+(?P<n>\d{1,3})\s*[-–—]?\s*(?P<text>\S.*)$", re.I
)
_BULLET_RE = re.compile(r"^(?P<indent>\s*)[-*•+]\s+(?P<text>\S.*)$")
_ANNOUNCE_RE = re.compile(
    r"\b(?:how|steps?|instructions?|guide|recipe|procedure|process|workflow|routine|follow|"
    r"checklist|setup|set\s+up|install(?:ation)?)\b|^\s*to\s+\w+",
    re.IGNORECASE,
)
_MD_RE = re.compile(r"\*\*|__|^#+\s*|`")


def _clean_step(text: str) -> str:
    return " ".join(_MD_RE.sub("", text).split()).strip()


@dataclass
class _Block:
    kind: str  # numbered | bullet
    start_line: int
    steps: list[str]


def _list_blocks(lines: list[str]) -> list[tuple[_Block, str | None]]:
    """Step blocks (2+ steps) with the line that introduces each (or None)."""
    blocks: list[tuple[_Block, str | None]] = []
    current: _Block | None = None
    base = 0  # indentation of the current block's items
    last_text: str | None = None  # the last line outside any list
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        num = _NUMBERED_RE.match(line) or _STEP_WORD_RE.match(line)
        item = num or _BULLET_RE.match(line)
        if item is not None:
            kind = "numbered" if num else "bullet"
            indent = len(item["indent"].expandtabs(4))
            if current is not None and current.steps and indent > base:
                current.steps[-1] += "; " + _clean_step(item["text"])  # a nested item
                continue
            if current is None or current.kind != kind:
                current = _Block(kind, i, [])
                base = indent
                blocks.append((current, last_text))
            current.steps.append(_clean_step(item["text"]))
        elif current is not None and current.steps and line[:1].isspace():
            current.steps[-1] += " " + _clean_step(line)  # a continuation line
        else:
            current = None
            last_text = line.strip()
    out: list[tuple[_Block, str | None]] = []
    for block, before in blocks:
        steps = [s for s in block.steps if s]
        if len(steps) < 2:
            continue
        block.steps = steps
        if block.kind == "bullet":
            announced = before is not None and _ANNOUNCE_RE.search(before) is not None
            imperative = sum(1 for s in steps if (_words(s) or [""])[0] in _IMPERATIVES)
            if not announced and imperative * 2 < len(steps):
                continue
        out.append((block, before))
    return out


def _is_list_line(line: str) -> bool:
    return bool(_NUMBERED_RE.match(line) or _STEP_WORD_RE.match(line) or _BULLET_RE.match(line))


_FIRST_RE = re.compile(
    r"(?:^|(?<=[.:;,!])\s*|\b(?:you\s+(?:should\s+|need\s+to\s+|must\s+|have\s+to\s+|can\s+)?|"
    r"just\s+))(?P<m>first(?:ly)?|to\s+start|to\s+begin)\b"
    r"(?!,?\s*(?:time|of|place|thing|day|week|year|one|person|step)\b),?\s*",
    re.IGNORECASE,
)
_NEXT_RE = re.compile(
    r"(?:[,.;]\s*|\s+)(?:and\s+)?(?:then|after\s+that|afterwards|finally|lastly)\b,?\s*"
    r"|[,.;]\s*next\b,?\s*",
    re.IGNORECASE,
)
_INTRO_CLEAN = re.compile(
    r"^(?:(?:sure|ok|okay|of\s+course|certainly|absolutely|great|yes)\b[,!.]*\s*)*"
    r"(?:(?:here's|here\s+is|here\s+are)\s+(?=\w))?",
    re.IGNORECASE,
)
_LINK_LEAD = re.compile(
    r"^(?:(?:here's|here\s+is|here\s+are|see|check\s+out|look\s+at|this\s+is|that's|it's)\s+)+",
    re.IGNORECASE,
)


def _inline_steps(paragraph: str) -> tuple[str, list[str], int] | None:
    """(text before "first", steps, position) of a "first ..., then ..." sequence."""
    fm = _FIRST_RE.search(paragraph)
    if not fm:
        return None
    pos = fm.end()
    markers = list(_NEXT_RE.finditer(paragraph, pos))
    if not markers:
        return None
    steps: list[str] = []
    bounds = [pos] + [mk.start() for mk in markers]
    starts = [pos] + [mk.end() for mk in markers]
    for k, s in enumerate(starts):
        e = bounds[k + 1] if k + 1 < len(bounds) else len(paragraph)
        seg = paragraph[s:e]
        if k == len(starts) - 1:
            stop = re.search(r"[.!?](?:\s|$)", seg)
            seg = seg[: stop.start()] if stop else seg
            if seg.rstrip().endswith("?"):
                return None
        seg = seg.strip(" ,;:.!")
        if seg:
            steps.append(seg)
    if len(steps) < 2:
        return None
    first_word = (_words(steps[0]) or [""])[0]
    if _is_past(first_word) or first_word in ("i", "we", "he", "she", "they"):
        return None
    before = paragraph[: fm.start()]
    sentence_start = max(before.rfind(". "), before.rfind("! "), before.rfind("? "))
    lead = before[sentence_start + 1 :] if sentence_start >= 0 else before
    lead = lead.strip(" ,:;")
    return lead, steps, fm.start()


def _summary_line(text: str) -> str:
    """The last sentence of an introducing line, without "Sure!", "Here's" and the colon."""
    sentences = split_sentences(_clean_step(text))
    last = sentences[-1] if sentences else ""
    return _cap(_INTRO_CLEAN.sub("", last).rstrip(" :"))


def _procedures(text: str) -> Iterator[tuple[int, str, list[str]]]:
    """(position, summary, steps) of each step list in ``text``."""
    lines = text.split("\n")
    offsets: list[int] = []
    acc = 0
    for line in lines:
        offsets.append(acc)
        acc += len(line) + 1
    for block, before in _list_blocks(lines):
        summary = _summary_line(before) if before else ""
        if not summary or summary[:1].isdigit():
            summary = _cap(block.steps[0])
        yield offsets[block.start_line], summary, block.steps[:500]
    # Inline "first ..., then ..." sequences, paragraph by paragraph, list lines left out.
    para_at = 0
    for para in re.split(r"\n[ \t]*\n", text):
        at = text.find(para, para_at)
        at = at if at >= 0 else para_at
        para_at = at + len(para)
        flat = " ".join(" ".join(ln for ln in para.split("\n") if not _is_list_line(ln)).split())
        got = _inline_steps(flat)
        if got is None:
            continue
        lead, steps, pos = got
        summary = _summary_line(lead) if len(_words(lead)) >= 2 else ""
        if not summary:
            sentences = split_sentences(flat[:pos])
            summary = _summary_line(sentences[-1]) if sentences else ""
        if not summary:
            summary = _cap(steps[0])
        yield at + pos, summary, steps[:500]


# ------------------------------------------------------------------------------ resources

_URL_RE = re.compile(r"https?://[^\s<>\"'`()\[\]{}|\\^]+", re.IGNORECASE)
_MD_LINK_RE = re.compile(r"\[(?P<text>[^\]\n]{1,300})\]\((?P<url>https?://[^\s)]+)\)", re.I)
_LABEL_BEFORE_RE = re.compile(r"(?P<label>[^\n:.!?]{2,100}?)\s*(?::|\s[-–—])\s*$")


def _clean_url(url: str) -> str:
    url = url.rstrip(".,;:!?*_'\"")
    return re.sub(r"^(https?://)[^/@\s]*@", r"\1", url, flags=re.IGNORECASE)


def _links(text: str) -> Iterator[tuple[int, str, str, str]]:
    """(position, uri, title, summary) of each distinct URL in ``text``."""
    titles: dict[str, str] = {}
    for m in _MD_LINK_RE.finditer(text):
        titles.setdefault(_clean_url(m["url"]), _clean_step(m["text"]))
    seen: set[str] = set()
    for m in _URL_RE.finditer(text):
        uri = _clean_url(m.group(0))
        host = (urlsplit(uri).hostname or "").lower()
        if not host or uri in seen or "." not in host:
            continue
        seen.add(uri)
        line_start = text.rfind("\n", 0, m.start()) + 1
        line_end = text.find("\n", m.end())
        line = text[line_start : line_end if line_end >= 0 else len(text)]
        title = titles.get(uri, "")
        if not title:
            lm = _LABEL_BEFORE_RE.search(text[line_start : m.start()])
            if lm:
                label = _LINK_LEAD.sub("", _clean_step(lm["label"]).strip(" -*"))
                if 0 < len(_words(label)) <= 10:
                    title = label
        if not title:
            title = host.removeprefix("www.")
        yield m.start(), uri, title, " ".join(line.split())


# ------------------------------------------------------------------------------ vault


@dataclass(frozen=True)
class _Secret:
    start: int
    end: int
    secret: str
    entry_type: str
    label: str  # "GitHub token", "wifi password"


_KIND = (
    r"personal\s+access\s+token|api[\s_-]?key|access[\s_-]?key|secret[\s_-]?key|"
    r"private[\s_-]?key|access[\s_-]?token|auth[\s_-]?token|api[\s_-]?token|bearer\s+token|"
    r"token|key|password|passcode|passphrase|passwd|pwd|pin\s+code|pin\s+number|pin|"
    r"door\s+code|security\s+code|code|combination|secret|credentials?"
)
_SECRET_VALUE = r"\s*(?:[\"“'‘`](?P<q>[^\"”'’`\n]{1,200})[\"”'’`]|(?P<secret>[^\s\"“”'‘’`]{1,500}))"
_LABELLED_RE = re.compile(
    r"\b(?:(?:my|our|the)\s+(?P<pre>(?:[\w.-]+\s+){0,3}?)(?P<kind>" + _KIND + r")"
    r"\s*(?:is\s+now|is|was\s+changed\s+to|=|:)\s*:?"
    r"|(?:set|changed?|updated?|reset)\s+(?:my|our|the)\s+(?P<pre2>(?:[\w.-]+\s+){0,3}?)"
    r"(?P<kind2>" + _KIND + r")\s+to)" + _SECRET_VALUE,
    re.IGNORECASE,
)
_ASSIGN_RE = re.compile(
    r"(?<![\w.-])(?P<name>[A-Za-z][A-Za-z0-9_.-]{0,60})\s*[=:]\s*[\"']?"
    r"(?P<secret>[^\s\"'&#,;<>]{8,500})"
)
_ASSIGN_NAME_RE = re.compile(
    r"(?:^|[_.-])(?:api[_-]?key|apikey|key|token|secret|password|passwd|pwd)(?:$|[_.-])",
    re.IGNORECASE,
)
_KNOWN_KEYS: list[tuple[re.Pattern[str], str, str]] = [
    (re.compile(r"(?<![\w-])sk-ant-[A-Za-z0-9_-]{16,}"), "api_key", "Anthropic API key"),
    (
        re.compile(r"(?<![\w-])sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{16,}"),
        "api_key",
        "OpenAI API key",
    ),
    (re.compile(r"(?<![\w-])(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}"), "api_key", "Stripe key"),
    (re.compile(r"(?<![\w-])gh[pousr]_[A-Za-z0-9]{20,}"), "token", "GitHub token"),
    (re.compile(r"(?<![\w-])github_pat_[A-Za-z0-9_]{20,}"), "token", "GitHub token"),
    (re.compile(r"(?<![\w-])glpat-[A-Za-z0-9_-]{20,}"), "token", "GitLab token"),
    (
        re.compile(r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])"),
        "api_key",
        "AWS access key",
    ),
    (re.compile(r"(?<![\w-])xox[abposr]-[A-Za-z0-9-]{10,}"), "token", "Slack token"),
    (re.compile(r"(?<![\w-])AIza[0-9A-Za-z_-]{35}"), "api_key", "Google API key"),
    (re.compile(r"(?<![\w-])hf_[A-Za-z0-9]{30,}"), "token", "Hugging Face token"),
    (
        re.compile(r"(?<![\w-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
        "token",
        "JSON web token",
    ),
    (
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]+?-----END [A-Z ]*PRIVATE KEY-----"),
        "private_key",
        "private key",
    ),
]
_GENERIC_RE = re.compile(r"(?<![\w/+=@.:#-])[A-Za-z0-9+/]{20,}={0,2}(?![\w/+=@-])(?!\.\w)")
_WORD_NUMBER_RE = re.compile(r"^(?:[A-Za-z]+\d+|\d+[A-Za-z]+)$")


def _entry_type(kind: str) -> str:
    k = " ".join(kind.lower().replace("_", " ").replace("-", " ").split())
    if k in ("password", "passphrase", "passwd", "pwd"):
        return "password"
    if k in ("pin", "pin code", "pin number", "passcode", "door code", "security code", "code"):
        return "pin"
    if k == "combination":
        return "pin"
    if "private key" in k:
        return "private_key"
    if "key" in k:
        return "api_key"
    if "token" in k:
        return "token"
    return "secret"


def _plausible(secret: str, entry_type: str, *, quoted: bool) -> bool:
    if not secret or REDACTED in secret or secret.lower() in _NOT_SECRET:
        return False
    if entry_type == "pin":
        return re.fullmatch(r"\d{3,12}", secret) is not None or (
            4 <= len(secret) <= 20
            and re.fullmatch(r"[A-Za-z0-9]+", secret) is not None
            and any(c.isdigit() for c in secret)
            and any(c.isalpha() for c in secret)
        )
    if entry_type == "password":
        return len(secret) >= 4 or quoted
    has_digit = any(c.isdigit() for c in secret)
    has_symbol = any(not c.isalnum() for c in secret)
    return len(secret) >= 8 and (has_digit or has_symbol or len(secret) >= 16)


def _known(secret: str) -> tuple[str, str] | None:
    for rx, entry_type, label in _KNOWN_KEYS:
        if rx.fullmatch(secret):
            return entry_type, label
    return None


def _find_secrets(text: str) -> list[_Secret]:
    """Secrets in ``text``, in text order, spans never overlapping."""
    found: list[_Secret] = []

    def free(s: int, e: int) -> bool:
        return all(e <= f.start or s >= f.end for f in found)

    for m in _LABELLED_RE.finditer(text):
        quoted = m["q"] is not None
        group = "q" if quoted else "secret"
        secret = m[group]
        start, end = m.start(group), m.end(group)
        if not quoted:
            stripped = secret.rstrip(".,;:!?)")
            end -= len(secret) - len(stripped)
            secret = stripped
        kind = m["kind"] or m["kind2"]
        pre = " ".join((m["pre"] if m["pre"] is not None else m["pre2"] or "").split())
        entry_type = _entry_type(kind)
        if not _plausible(secret, entry_type, quoted=quoted) or not free(start, end):
            continue
        known = _known(secret)
        label = f"{pre} {' '.join(kind.split())}".strip()
        if known and not pre:
            entry_type, label = known
        found.append(_Secret(start, end, secret, entry_type, label))
    for m in _ASSIGN_RE.finditer(text):
        if not _ASSIGN_NAME_RE.search(m["name"]) or m["secret"].lower().startswith("http"):
            continue
        secret = m["secret"].rstrip(".,;:!?)")
        start = m.start("secret")
        end = start + len(secret)
        if not free(start, end) or not _plausible(secret, "token", quoted=False):
            continue
        name = m["name"]
        known = _known(secret)
        entry_type = known[0] if known else _entry_type(re.split(r"[_.-]", name.lower())[-1])
        found.append(_Secret(start, end, secret, entry_type, known[1] if known else name))
    for rx, entry_type, label in _KNOWN_KEYS:
        for m in rx.finditer(text):
            if free(m.start(), m.end()):
                found.append(_Secret(m.start(), m.end(), m.group(0), entry_type, label))
    for m in _GENERIC_RE.finditer(text):
        tok = m.group(0)
        digits = sum(c.isdigit() for c in tok)
        letters = sum(c.isalpha() for c in tok)
        if digits < 3 or letters < 3 or _WORD_NUMBER_RE.match(tok.rstrip("=")):
            continue
        if ("/" in tok or "+" in tok) and len(tok) < 30:
            continue  # a path or a sum, more likely than a short base64 token
        if free(m.start(), m.end()):
            found.append(_Secret(m.start(), m.end(), tok, "token", "token"))
    return sorted(found, key=lambda s: s.start)


def _redact(text: str, secrets: Sequence[str]) -> str:
    for secret in sorted(set(secrets), key=len, reverse=True):
        pattern = re.escape(secret)
        if secret[:1].isalnum() or secret[:1] == "_":
            pattern = r"(?<![\w])" + pattern
        if secret[-1:].isalnum() or secret[-1:] == "_":
            pattern += r"(?![\w])"
        text = re.sub(pattern, REDACTED, text)
    return text


_SENSITIVITY = {"pin": "medium"}


def _vault_item(s: _Secret, sp: _Speaker, ts: datetime | None, index: int) -> Extracted | None:
    label = " ".join(s.label.split())
    low = s.secret.lower()
    if low in label.lower():
        label = {"pin": "PIN", "api_key": "API key", "private_key": "private key"}.get(
            s.entry_type, s.entry_type
        )
    caption = f"{sp.possessive} {label}"
    attribute = "secret:" + "_".join(_words(label.replace("-", " "))) if _words(label) else None
    source = f"{sp.subject} on {ts.date().isoformat()}" if ts else "conversation"
    if low in source.lower():
        source = "conversation"
    fields: dict[str, Any] = {
        "entry_type": s.entry_type,
        "source": source,
        "sensitivity": _SENSITIVITY.get(s.entry_type, "high"),
        "caption": caption,
    }
    visible = [caption, sp.subject, attribute or "", *(str(v) for v in fields.values())]
    if any(low in v.lower() for v in visible):
        return None  # it would leak whatever caption is used
    return Extracted(
        memory_type=KNOWLEDGE_VAULT,
        content=caption,
        subject=sp.subject,
        attribute=attribute,
        value=None,
        fields=fields,
        occurred_at=ts,
        message_index=index,
        secret=s.secret,
    )


# ------------------------------------------------------------------------------ driver


def aware(ts: datetime | None) -> datetime | None:
    """A timestamp as a timezone-aware one (naive is read as UTC)."""
    if ts is None:
        return None
    if ts.tzinfo is None or ts.utcoffset() is None:
        return ts.replace(tzinfo=UTC)
    return ts


def _sentence_spans(text: str) -> Iterator[tuple[int, str]]:
    """Each sentence of ``text`` with (roughly) where it starts."""
    cursor = 0
    for sentence in split_sentences(text):
        words = sentence.split()
        pattern = r"\s+".join(re.escape(w) for w in words[:6])
        m = re.compile(pattern).search(text, cursor) if pattern else None
        if m:
            cursor = m.start()
        yield cursor, sentence


# "Favourite colour? Beige, easily.": a headline asked and answered by the speaker.
_FAV_ASKED = re.compile(
    r"(?:^|(?<=[.!\n])\s*)(?:my\s+)?(?:(?:new|current|all[-\s]time|absolute)\s+)?"
    + _FAV
    + r"\s+[a-z][\w'-]*(?:\s+[a-z][\w'-]*){0,2}?\s*(?P<q>\?)[ \t]+(?P<a>[^.!?\n]{1,60})"
    r"(?P<end>[.!?\n]|$)",
    re.IGNORECASE,
)
# "Sushi? Love it!": a noun asked and answered by the speaker.
_STANCE_ASKED = re.compile(
    r"(?:^|(?<=[.!\n])[ \t]*)[A-Za-z][\w' -]{0,30}?[ \t]*(?P<q>\?)[ \t]+(?=(?:i\s+)?(?:(?:really|"
    r"absolutely|totally|just|honestly)\s+)?(?:love|adore|like|enjoy|hate|detest|loathe|can't\s+stand|"
    r"don't\s+like|can't\s+get\s+enough\s+of)\s+(?:it|them)\b)",
    re.IGNORECASE,
)
# "Ugh, burritos. No thanks.": the noun and the refusal belong together.
_UGH_SPLIT = re.compile(
    r"\b(?:ugh+|urgh+|eww*|yuck|yuk|blech|bleh|bleugh|gross|nope)\b[\s,!]+[^,.!?;\n]{1,40}?"
    r"(?P<stop>[.!]+)(?=\s+(?:no\s+thanks|no\s+thank\s+you|hard\s+pass|pass|never\s+again|"
    r"not\s+for\s+me|no\s+way)\b)",
    re.IGNORECASE,
)


def _join_fragments(text: str) -> str:
    """``text`` with two fragments that make one statement joined (same length): "Favourite
    colour? Blue." reads "Favourite colour: Blue.", "Ugh, burritos. No thanks" one sentence."""
    chars = list(text)
    for m in _FAV_ASKED.finditer(text):
        answer = _words(m["a"])
        if m["end"] == "?" or not answer or answer[0] in _QUESTION_OPENERS:
            continue  # "Favourite colour? What's yours?"
        if answer[0] in {"you", "your", "yours", "mine", "hmm", "um", "idk", "dunno", "not"}:
            continue
        chars[m.start("q")] = ":"
    for m in _STANCE_ASKED.finditer(text):
        chars[m.start("q")] = ":"
    for m in _UGH_SPLIT.finditer(text):
        for i in range(m.start("stop"), m.end("stop")):
            chars[i] = ","
    return "".join(chars)


def _semantic_and_events(
    text: str, sp: _Speaker, ts: datetime | None, index: int
) -> Iterator[tuple[int, Extracted]]:
    original, text = text, _join_fragments(text)
    for offset, sentence in _sentence_spans(text):
        if _is_question(sentence):
            continue
        end = offset + len(sentence)
        details = _cut(original[offset:end] if text[offset:end] == sentence else sentence, 20_000)
        said, back = _with_subjects(sentence)
        for rule in _RULES:
            for f in rule(said, sp, ts, text):
                if _blocked(said, f.start):
                    continue
                f = replace(f, start=back(f.start))
                fields = {
                    "name": _cut(sp.display, 500),
                    "summary": _cut(f.content, 20_000),
                    "details": details,
                    "source": "conversation",
                    "relation": _cut(f.relation, 200),
                    "tail": _cut(f.tail, 500),
                }
                yield (
                    offset + f.start,
                    Extracted(
                        memory_type=SEMANTIC,
                        content=f.content,
                        subject=sp.subject,
                        attribute=f.attribute,
                        value=f.value,
                        fields=fields,
                        occurred_at=ts,
                        message_index=index,
                    ),
                )
        for pos, content, when in _events(sentence, sp, ts):
            fields = {
                "event_type": "user_event",
                "summary": _cut(content, 20_000),
                "details": details,
                "actor": "user",
            }
            yield (
                offset + pos,
                Extracted(
                    memory_type=EPISODIC,
                    content=content,
                    subject=sp.subject,
                    attribute=None,
                    value=None,
                    fields=fields,
                    occurred_at=when,
                    message_index=index,
                ),
            )


def _shared(
    text: str, actor: str, subject: str, ts: datetime | None, index: int
) -> Iterator[tuple[int, Extracted]]:
    """Procedural lists and links (any role)."""
    for pos, summary, steps in _procedures(text):
        numbered = "; ".join(f"({i}) {s}" for i, s in enumerate(steps, 1))
        content = f"{summary}: {numbered}"
        yield (
            pos,
            Extracted(
                memory_type=PROCEDURAL,
                content=content,
                subject=subject,
                attribute=None,
                value=None,
                fields={"entry_type": "guide", "summary": _cut(summary, 20_000), "steps": steps},
                occurred_at=ts,
                message_index=index,
            ),
        )
    for pos, uri, title, line in _links(text):
        yield (
            pos,
            Extracted(
                memory_type=RESOURCE,
                content=f"{actor} shared a link to {title}: {uri}",
                subject=subject,
                attribute=None,
                value=None,
                fields={
                    "title": _cut(title, 1000),
                    "summary": _cut(line, 20_000),
                    "resource_type": "link",
                    "uri": uri[:4000],
                },
                occurred_at=ts,
                message_index=index,
            ),
        )


def extract(messages: Sequence[Message], *, user_label: str | None = None) -> list[Extracted]:
    """Typed memories found in ``messages`` by the rules of the module docstring, in message
    order (within a message, roughly in text order), identical ones once."""
    roles = [m.role.strip().lower() for m in messages]
    # Every secret of the conversation, redacted from every message before anything else.
    per_message = [_find_secrets(m.content) for m in messages]
    all_secrets = [s.secret for found in per_message for s in found]

    first_named = next(
        (m.name for m, r in zip(messages, roles, strict=True) if r in _USER_ROLES and m.name),
        None,
    )
    last_user = _speaker(user_label or first_named)
    out: list[Extracted] = []
    for index, (msg, role) in enumerate(zip(messages, roles, strict=True)):
        ts = aware(msg.timestamp)
        items: list[tuple[int, Extracted]] = []
        text = _redact(msg.content, all_secrets) if all_secrets else msg.content
        if role in _USER_ROLES:
            sp = _speaker(user_label or msg.name)
            last_user = sp
            for s in per_message[index]:
                item = _vault_item(s, sp, ts, index)
                if item is not None:
                    items.append((s.start, item))
            items.extend(_shared(text, sp.display, sp.subject, ts, index))
            items.extend(_semantic_and_events(text.translate(_APOSTROPHES), sp, ts, index))
        elif role in _ASSISTANT_ROLES:
            items.extend(_shared(text, _ASSISTANT, last_user.subject, ts, index))
        items.sort(key=lambda p: p[0])
        out.extend(_without_named_old([item for _, item in items], text))
    return _dedupe(out)


# Slots with one value at a time, and the words that mark a value as the one left behind.
_SINGLE_VALUED = re.compile(r"^(?:lives_in|works_at|name_of:.+|favourite:.+)$")
_OLD_MARK = (
    r"\b(?:left|leaving|from|quit|quitting|no\s+longer(?:\s+(?:at|in|with|called|named))?|"
    r"not\s+(?:at|in|with|called|named)|isn't|wasn't|used\s+to\s+be(?:\s+(?:at|in|called|named))?|"
    r"was(?:\s+(?:at|in|called|named))?|ex-?|former(?:ly)?|old)\s+(?:the\s+)?"
)


def _without_named_old(items: list[Extracted], text: str) -> list[Extracted]:
    """A message's extractions without a single-valued slot's value that the message names as
    the old one when it gives the slot another value too ("I left Acme and joined Globex")."""
    values: dict[str, set[str]] = {}
    for x in items:
        if x.memory_type == SEMANTIC and x.attribute and _SINGLE_VALUED.match(x.attribute):
            values.setdefault(x.attribute, set()).add(x.value or "")
    if all(len(v) < 2 for v in values.values()):
        return items
    low = " ".join(text.translate(_APOSTROPHES).lower().split())
    named_old: dict[str, bool] = {}

    def old(x: Extracted) -> bool:
        if x.memory_type != SEMANTIC or len(values.get(x.attribute or "", ())) < 2:
            return False
        value = x.value or ""
        if value not in named_old:
            mark = re.search(_OLD_MARK + re.escape(value) + r"\b", low)
            named_old[value] = mark is not None
        return named_old[value]

    return [x for x in items if not old(x)]


def redact(messages: Sequence[Message]) -> list[str]:
    """Each message's text with every secret the vault rules find in the conversation
    replaced by ``REDACTED`` (what ``extract`` reads, and what may be stored as the turn)."""
    secrets = [s.secret for m in messages for s in _find_secrets(m.content)]
    return [_redact(m.content, secrets) if secrets else m.content for m in messages]


def _dedupe(items: list[Extracted]) -> list[Extracted]:
    # Per message: the same statement in two messages is said twice (and the messages may
    # come from different people when a caller batches them).
    seen: set[tuple[int, str, str, str | None, str | None, str | None]] = set()
    kept: list[Extracted] = []
    for x in items:
        content = " ".join(x.content.lower().split())
        key = (x.message_index, x.memory_type, content, x.attribute, x.value, x.secret)
        if key not in seen:
            seen.add(key)
            kept.append(x)
    return kept
