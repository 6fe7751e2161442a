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
I live / reside in X, I'm living / based in X, I (just) moved /  ``lives_in``            x
relocated to X, I've been living / based in X, I've settled /
I settled (down) in X (Cap), I've lived in X + a duration ("for
5 years", "since 2019", "all my life"), I've been in X (Cap) + a
duration, (my) home / my address is (in) X (for me) (Cap), X is
(my) home / has been home (for years) (Cap), X is where I live
(Cap), I call X home, I've made X my home (Cap), "X, where I
live / where I've
lived for ...", "X, my new home" (Cap), my new flat / house /
place in X, from / at my flat in X, I've moved into a flat in
X, I'm renting a flat in X (Cap; not with sell, holiday,
old, parents' ... in the sentence), I'm in X now / I'm now in
X / I'm in X these days (Cap; not with a trip word: "for a
conference", "this week", "hotel", "tomorrow"...); "we" for
live / moved / been living / 're living / settled (Cap), not "we're based"
I'm (originally) from X, I come from X                           ``from``                x
I work at/for X, I'm working at X, I'm employed by X, I've       ``works_at``            x
been working at X, I (just) started (working / a new job) at
X, I got / landed / took / accepted a (new) job / role /
position at X, I accepted an offer from X, I got / was hired
by / at X, X hired me, my (new) employer is X, X is my
employer, my new job is at X, my new company is X (Cap), X is
where I work, I'm a <job> at X; weaker, (Cap) and checked: I
joined X (an organisation suffix such as "Industries", a job
word in the sentence, or nothing after X but a time or "as a
<job>"), I'm at X / I switched to X (a job word in the
sentence: "new job", "switched jobs", "hired", "role", "as a
<job>"... or an organisation suffix), I've been at X (+ months
or years, "since ...")
I study at X, I'm studying at X, I'm a student at X              ``studies_at``          x
I'm a/an <job>, I work as a/an X                                 ``job``                 x
I'm married / single / engaged / divorced / widowed              ``relationship``        word
I'm vegetarian / vegan / pescatarian / flexitarian               ``diet``                word
my name is X, my name's X, call me X (X capitalised)             ``name``                x
my <pet or relative> is (now) called / named X, my <pet>'s       ``name_of:<pet>``       x
(new) name is X, my <pet> goes by / answers to X, my <pet> has
been renamed X, I have / adopted / got a <pet> called X, my
<pet or relative> X (Cap), "X, my <pet or relative>, ..." (Cap);
for pets also "our": our <pet> X, our <pet> is called X; I / we
(re)named / call / started calling my / our / the <pet> X, I /
we changed my / our <pet>'s name to X, I adopted a <pet> and
named it / her X, I have a <pet>, his / her name is X (a pet of
the speaker's earlier in the sentence, no relative in between)
my favourite X is / has become / remains Y, my favourite X has   ``favourite:<x>``      y
changed / used to be Z, (but) it's Y (now), Y is / has become /
has always been (by far) my (new) favourite X, Y's my favourite
X, nothing beats Y / I love Y, it's my favourite X ("fave",
"favorite" too)
I like / love / enjoy / prefer / adore X, I'm a fan of X, I'm    ``likes:<x>``           yes
(really) into X, I'm a (huge) X fan, I've come round / around to
X, I've warmed to X, I've started liking / started to like /
grown to love / come to love X, I'm starting to like X, I can't
get enough of X, I'm obsessed with / crazy about / hooked on /
keen on / fond of X, I'm loving X, I've been (really) into X,
I've fallen in love with X, nothing beats X, X is (really) my
thing / my cup of tea, X has grown on me
I don't like X, I no longer like X, I hate / dislike / detest /  ``likes:<x>``           no
loathe X, I can't stand X, I'm not a fan of X, I'm not a X fan,
I'm not / no longer into X, I'm not keen on / fond of X, I've
gone off X, I've lost my taste for X, I've had enough of X, I'm
so / totally over X, I'm sick / tired of X, I've started to hate
X, X doesn't agree with me (a name other than one word opening
the sentence only with "any more", "these days" ...), X
has never been / isn't (really) my thing / my cup of tea, X is
not for me (not "the / this X")
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
"Got hired at Acme", "Living in Rome now", "Been in Paris for two years": the -ing and "been"
forms only before a name) and after "and" in a clause whose subject is I / we ("I left Hooli
and joined Globex", not "I think my sister left and moved to Rome").

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
...; not the hedges "if I'm honest", "if you ask me") and text after a double quotation mark
(reported speech); negated or past statements ("I don't live in Berlin", "I lived in Paris":
the last may be an *event*), a clause with "used to" ("I used to call my dog Rex"), present
perfects without a duration ("I've lived in Paris and Rome"), with one of days or hours ("I've
been at Heathrow for 3 hours"), or with "until" / "before" / "once" / "as a student"; future or
intended ones ("I'm moving to X", "I want to work at X"; the weaker employer triggers,
"joined", "I'm at", "I've been at", "switched to", "X hired me", "X is my employer", "my new
company is X", not in a sentence with "will", "going to", "next month", "soon" ...); a job that
ended or was refused later in the sentence ("Google hired me in 2010 and fired me in 2012");
"we" statements other than the household's home and pets ("we're based in London" is a
company); facts about third parties ("my sister lives in Rome", "Sam lives in Berlin"); "I'm
Sam". Greetings alone ("Greetings / hello from X") are not a home (a trip as often), nor is
"I'm in X" without "now" / "these days" or with "right now"; "I'm at X" without a job word is
not an employer ("I'm at Starbucks now") and "I'm with X" never is ("I'm with Tom"); "I joined
X" is not one for platforms (Twitter, Strava, ...), people ("I joined Anna for lunch"; but "I
joined Anna." passes) or anything not written as a name ("a gym"), and "I switched to X" never
is without a job word ("I switched to Linux"); a place is never a department, technology or
state ("I'm in IT / Marketing / love", "we moved to Kubernetes"). A pet's name needs the
speaker's pet ("my / our <pet>", "I / we have / adopted ... a <pet>"): "the dog's name is Rex"
and a name in the next sentence ("I got a puppy. Her name is Luna.") are skipped, as are
answers split from their question by a "?" ("My favourite colour? Blue."). A one-word name
opening the sentence is read as a food or drink ("Tom doesn't agree with me." gives
``likes:tom`` no: an opinion read as a taste). Idioms that need world knowledge stay out: "I
could eat X every day", "I'm off X", "X and I don't get along", "X is a no for me". A place or
employer starting with a/an/my/this/... or "the <lower-case word>" ("I live in a small flat",
"I moved to the suburbs", "I'm working at the weekend") or holding a verb ("Living in Berlin
must be expensive") is skipped as too vague to fill the slot. Values are cut at the first "and"
only when a new clause follows, so "Procter and Gamble" survives but "hiking and swimming" is
one ``likes`` slot. A pronoun object ("I love it", "I like your idea", "I love making this") is
skipped. Objects longer than ``MAX_VALUE_WORDS`` words are skipped. Precision is preferred to
recall: a wrong fact supersedes a right one, a missed one only leaves the old one standing.

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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
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


# Where a value's clause ends.
_CLAUSE_END = re.compile(
    r"\s*(?:[,;:!?()\[\]\"“”—–]|\s-\s|\.(?:\s|$))"
    r"|\s+(?:but|because|since|although|though|whereas|while|which|who|whom|whose|where|when|"
    r"whenever|if|unless|until|so\s+that|as\s+well\s+as|plus)\b"
    r"|\s+(?:and|so|or)\s+(?=(?:i|i'm|i've|i'd|i'll|im|my|we|we're|we've|he|she|they|it|it's|"
    r"you|also|then|now|but|that's|this)\b)",
    re.IGNORECASE,
)
_TRAILING_FILLER = re.compile(
    r"(?:\s+(?:now|anymore|any\s+more|too|as\s+well|also|currently|these\s+days|nowadays|"
    r"at\s+the\s+moment|right\s+now|though|actually|lol|haha|a\s+lot|so\s+much|very\s+much|"
    r"really|still|either|anyway|for\s+(?:now|good|sure)|after\s+all|lately|recently|instead|"
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


def _clause(rest: str, stops: re.Pattern[str] | None = None, *, keep_time: bool = False) -> str:
    """``rest`` up to the end of its clause (and the first of ``stops``), without trailing
    fillers and (unless ``keep_time``) time expressions."""
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


def _is_question(sentence: str) -> bool:
    body = sentence.rstrip(_CLOSERS)
    if body.endswith("?"):
        return True
    words = _words(sentence)
    return bool(words) and words[0] in _QUESTION_OPENERS


# "If I'm honest" and "if you ask me" are hedges, not conditions.
_NOT_CONDITION = re.compile(
    r"\bif\s+(?:i'm|i\s+am)\s+(?:being\s+)?honest\b|\bif\s+you\s+ask\s+me\b", re.IGNORECASE
)
_CLAUSE_START = re.compile(
    r"[,;:!?—–]|\b(?:but|and|now|whereas|while|though|although|these\s+days|nowadays)\b",
    re.IGNORECASE,
)
_USED_TO = re.compile(r"\b(?:used\s+to|would\s+always)\b", re.IGNORECASE)


def _blocked(sentence: str, start: int) -> bool:
    """Whether a statement starting at ``start`` is hypothetical, subordinate, quoted or a past
    habit ("I used to call my dog Rex")."""
    before = sentence[:start]
    if '"' in before or "“" in before:
        return True
    before = _NOT_CONDITION.sub(" ", before)
    words = _words(before)
    if words and words[-1] in _IMMEDIATE_BLOCKERS:
        return True
    if any(w in _HYPOTHETICAL for w in words):
        return True
    clause_at = max((m.end() for m in _CLAUSE_START.finditer(before)), default=0)
    return _USED_TO.search(before, clause_at) is not None


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
    "think say believe imagine point ask mention add know remind clarify note hear see".split()
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
    r"renamed|adopted|landed|accepted|got\s+(?:hired|a\s+(?:new\s+)?job)|fell|came\s+round|"
    r"came\s+around|went\s+off)|(?P<ing>living|based|working|employed)|"
    r"(?P<been>been\s+(?:living|working|based|at|in)))\b"
    # ("Living in fear", "Working at the weekend": only before a name)
    r"(?(past)|(?=(?:\s+\w+){0,1}?\s+(?:in|at|for|by|out\s+of|in)?\s*(?:the\s+)?(?-i:[A-Z])))",
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
    if m and not re.match(r"(?:i|we)\b", out, re.IGNORECASE):
        subject = "I've " if m["been"] else "I'm " if m["ing"] else "I "
        at = m.end("adv")
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


_Rule = Callable[[str, _Speaker, datetime | None], Iterator[_Fact]]
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
    m = _PROPER_TAIL.search(sentence[:end].rstrip(" ,"))
    if not m:
        return None
    start, name = m.start("p"), m["p"]
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
    clause_at = max((b.end() for b in _NP_BOUNDARY.finditer(head)), default=0)
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
    m = _SENTENCE_REST.search(rest)
    return rest[: m.start()] if m else rest


_FUTURE = re.compile(
    r"\b(?:will|won't|'ll|going\s+to|gonna|about\s+to|plan(?:ning)?\s+to|want\s+to|hoping\s+to|"
    r"tomorrow|next\s+(?:week|month|year|monday|tuesday|wednesday|thursday|friday|spring|summer|"
    r"autumn|fall|winter)|soon)\b",
    re.IGNORECASE,
)


_PLACE_STOPS = re.compile(
    r"\s+(?:with|near|close\s+to|next\s+to|for|as|in\s+(?:a|an|the|my|our)\b|on\s+(?:a|an|the)\b"
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


def _place(rest: str, *, proper: bool = False) -> str | None:
    """The place at the start of ``rest`` (third person), or None when it is no place to live
    in ("a small flat", "trouble", "IT"); ``proper``: only a capitalised name."""
    place = _third_person(_clause(rest, _PLACE_STOPS))
    if not _ok_place(place) or (proper and not _proper(place)):
        return None
    low = _norm(place)
    if low in _NOT_PLACE or _words(low)[0] in _NOT_PLACE or any(c.isdigit() for c in low):
        return None
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
            rf"{_I_OR_WE}(?:{_HAVE})?\s+{_ADV}(?:moved|relocated)\s+(?:back\s+|over\s+|house\s+)?"
            r"to\s+(?=(?P<rest>\S.*))",
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
            r"|\b(?:my|our)\s+new\s+(?:flat|apartment|house|home|place|condo|studio|digs)\s+in\s+"
            r"(?=(?P<rest2>\S.*))|\b(?:from|at|in)\s+(?:my|our)\s+(?:own\s+)?(?:flat|apartment|"
            r"house|place|condo|studio)\s+in\s+(?=(?P<rest3>\S.*))",
            re.IGNORECASE,
        ),
        True,
        False,
    ),
]
_HOUSING = re.compile(r"\b(?:flat|apartment|house|place|home|condo|studio|digs|room)\b", re.I)
# A home that is not where one lives.
_NOT_HOME = re.compile(
    r"\b(?:sell(?:ing|s)?|sold|rent(?:ing)?\s+(?:it\s+)?out|let(?:ting)?\s+(?:it\s+)?out|"
    r"holiday|vacation|summer|weekend|second|old|former|previous|parents'?|buy(?:ing)?|bought|"
    r"looking\s+(?:at|for)|viewing|visit(?:ing)?)\b",
    re.IGNORECASE,
)
# "I'm (now) in X (now)": a present location; a residence only with "now" (or "these days")
# and no sign of a trip.
_NOW_IN_RE = re.compile(
    rf"{_I_AM}\s+(?P<pre>(?:(?:now|back|finally|officially|still)\s+)*)in\s+(?=(?P<rest>\S.*))",
    re.IGNORECASE,
)
_NOW_AFTER = re.compile(
    r"^\s*,?\s*(?:now|these\s+days|nowadays|for\s+good|permanently)\b", re.IGNORECASE
)
_TRIP = re.compile(
    r"\b(?:trip|holidays?|vacation|visit|visiting|conference|business|travel\w*|stopover|"
    r"layover|tonight|today|this\s+(?:week|weekend|month)|for\s+(?:the|a)\s+(?:week|weekend|"
    r"few\s+days|couple\s+of\s+days|day|night|month)|until|till|hotel|airport|flight|flying|"
    r"back\s+home|meeting|festival|wedding|funeral|tour|staying|stay)\b",
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


def _has_duration(rest: str) -> bool:
    tail = _after(rest)
    return _LONG_DURATION.search(tail) is not None and _PAST_TAIL.search(tail) is None


@_rule
def _lives_in(sentence: str, sp: _Speaker, _ref: datetime | None) -> Iterator[_Fact]:
    for rx, proper, duration in _LIVES_RES:
        for m in rx.finditer(sentence):
            groups = m.groupdict()
            rest = next(groups[g] for g in ("rest", "rest2", "rest3", "rest4") if groups.get(g))
            we = m.group(0).lower().startswith("we")
            if duration and not _has_duration(rest):
                continue
            if not duration and _PAST_TAIL.search(_after(rest)) and "been" in m.group(0).lower():
                continue  # "I've been living in X until ..."
            if _HOUSING.search(m.group(0)) and _NOT_HOME.search(sentence):
                continue
            place = _place(rest, proper=proper or we)
            if place:
                yield _lives_fact(m.start(), sp, place)
    for m in _NOW_IN_RE.finditer(sentence):
        place = _place(m["rest"], proper=True)
        if not place or _TRIP.search(sentence) or len(_words(place)) > 4:
            continue
        after = m["rest"][len(place) :] if m["rest"].startswith(place) else ""
        if "now" in m["pre"].lower() or _NOW_AFTER.match(after):
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
def _from(sentence: str, sp: _Speaker, _ref: datetime | None) -> Iterator[_Fact]:
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
    themselves themself ourselves yourself""".split()
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
    r"(?:jobs|companies|employers)|work(?:ing)?\s+(?:there|for\s+them)|as\s+an?\s+"
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
]
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


def _weak_org(rest: str, need: str, sentence: str, span: tuple[int, int]) -> str | None:
    """The employer after a weak trigger ("I joined", "I'm at", ...), or None."""
    end = _CLAUSE_END.search(rest)
    raw = rest[: end.start()] if end else rest
    org = _clause(raw, _ORG_STOPS)
    if not org or not _org_ok(org) or not _proper(org) or _norm(org) in _NOT_ORG:
        return None
    others = sentence[: span[0]] + " " + sentence[span[1] :]
    if _ORG_SUFFIX.search(org) or _job_cue(others):
        return org
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
    r"\b(?:fired|laid\s+off|let\s+go|left|quit|resigned|turned\s+(?:it|them|the\s+\w+)\s+down|"
    r"declined|until|till|went\s+bust|closed|shut\s+down)\b",
    re.IGNORECASE,
)


@_rule
def _works_at(sentence: str, sp: _Speaker, _ref: datetime | None) -> Iterator[_Fact]:
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
    if future:
        return  # "I'm joining X next month" is a plan
    for rx, need in _WORKS_WEAK:
        for m in rx.finditer(sentence):
            if _JOB_ENDED.search(sentence, m.end()):
                continue
            weak = _weak_org(m["rest"], need, sentence, (m.start(), m.end()))
            if weak:
                yield _works_fact(m.start(), sp, m["prep"] or "at", _third_person(weak))
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
def _studies_at(sentence: str, sp: _Speaker, _ref: datetime | None) -> Iterator[_Fact]:
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
_AT_ORG_RE = re.compile(r"^\s+(?P<prep>at|for)\s+(?=(?P<rest>\S.*))", re.IGNORECASE)


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
        if _org_ok(org):
            yield _works_fact(m.start(), sp, org_m["prep"], org)


@_rule
def _job(sentence: str, sp: _Speaker, _ref: datetime | None) -> Iterator[_Fact]:
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
def _relationship(sentence: str, sp: _Speaker, _ref: datetime | None) -> Iterator[_Fact]:
    for m in _RELATIONSHIP_RE.finditer(sentence):
        v = " ".join(m["v"].lower().split())
        yield _fact(m.start(), "relationship", v, f"{sp.display} is {v}.")


_DIET_RE = re.compile(
    rf"{_I_AM}\s+{_ADV}(?:an?\s+)?(?:strict\s+|full[\s-]time\s+)?"
    r"(?P<v>vegetarian|vegan|pescatarian|pescetarian|flexitarian)\b",
    re.IGNORECASE,
)


@_rule
def _diet(sentence: str, sp: _Speaker, _ref: datetime | None) -> Iterator[_Fact]:
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
def _name(sentence: str, sp: _Speaker, _ref: datetime | None) -> Iterator[_Fact]:
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
        r"rescued))\b[^.;!?]*?\ban?\s+(?:[a-z]+\s+)?(?P<kin>" + _PETS + r")\s+(?:called|named)\s+"
        r"(?=(?P<rest>\S.*))",
        re.IGNORECASE,
    ),
]
# "I/we (re)named / started calling / call my|our|the dog X", "we changed the cat's name to X"
_RENAME_RE = re.compile(
    rf"\b(?:i|we)(?:{_HAVE})?\s+{_ADV}(?:(?:renamed|re-named|named|call|(?:started|began|begun)\s+"
    r"calling|(?:ended\s+up|settled\s+on|went\s+with)\s+(?:naming|calling)|been\s+calling)\s+(?:my|our|the)\s+(?:[a-z]+\s+)?(?P<pet>"
    + _PETS
    + r")|changed\s+(?:my|our|the)\s+(?:[a-z]+\s+)?(?P<pet2>"
    + _PETS
    + r")'s\s+name)"
    r"\s+(?:(?:from\s+[A-Z]\w*(?:\s+[A-Z]\w*)?\s+)?to\s+)?(?=(?P<rest>\S.*))",
    re.IGNORECASE,
)
# A pet of the speaker's mentioned earlier in the sentence, for "named it X" / "her name is X".
_OWN_PET_RE = re.compile(
    r"\b(?:my|our)\s+(?:[a-z]+\s+)?(?P<pet>" + _PETS + r")\b"
    r"|\b(?:i|we)(?:'ve|\s+have)?\s+(?:just\s+|finally\s+|recently\s+)?(?:have|own|adopted|got|"
    r"rescued|bought|found|took\s+in|brought\s+home)\s+(?:a|an|another|one|two|a\s+new)\s+"
    r"(?:[a-z]+\s+)?(?P<pet2>" + _PETS + r")\b",
    re.IGNORECASE,
)
_NAMED_IT_RE = re.compile(
    rf"(?:\b(?:i|we)(?:{_HAVE})?\s+|\band\s+){_ADV}(?:named|called|renamed)\s+(?:him|her|it|them)"
    r"\s+(?:to\s+)?(?=(?P<rest>\S.*))"
    r"|\b(?:his|her|its|their)\s+name(?:'s|\s+is)\s+(?:now\s+)?(?=(?P<rest2>\S.*))",
    re.IGNORECASE,
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
    does did can could will would should might must mr mrs ms dr""".split()
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
def _name_of(sentence: str, sp: _Speaker, _ref: datetime | None) -> Iterator[_Fact]:
    for rx in _NAMED_RES:
        for m in rx.finditer(sentence):
            name = _name_value(m["rest"], capitalised=False)
            if name:
                yield _name_of_fact(m.start(), sp, m["kin"] or m["pet"], name)
    for m in _RENAME_RE.finditer(sentence):
        name = _name_value(m["rest"], capitalised=True)
        if name and _name_ok(name):
            yield _name_of_fact(m.start(), sp, m["pet"] or m["pet2"], name)
    for m in _NAMED_IT_RE.finditer(sentence):
        pets = list(_OWN_PET_RE.finditer(sentence, 0, m.start()))
        if not pets or _KIN_RE.search(sentence, pets[-1].end(), m.start()):
            continue  # no pet of the speaker's, or someone else in between ("my sister's dog")
        if m["rest"] is not None and m.group(0).lower().startswith("and"):
            if not re.match(r"(?:i|we)\b", pets[-1].group(0), re.IGNORECASE):
                continue  # "... and named it X" continues "I adopted a ..."
        name = _name_value(m["rest"] if m["rest"] is not None else m["rest2"], capitalised=True)
        if name and _name_ok(name):
            yield _name_of_fact(m.start(), sp, pets[-1]["pet"] or pets[-1]["pet2"], name)
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


_FAV = r"(?:favou?rite|fave|fav)"
_FAV_ADJ = (
    r"(?:(?:all[-\s]time|absolute|very|current|new|personal|latest|top|ultimate|true|"
    r"number\s+one|total)\s+)?"
)
_FAVOURITE_RE = re.compile(
    r"\bmy\s+" + _FAV_ADJ + _FAV + r"\s+"
    r"(?P<thing>[a-z][\w'-]*(?:\s+[a-z][\w'-]*){0,4}?)\s+(?P<be>is|are|'s|has\s+to\s+be|"
    r"has\s+become|has\s+always\s+been|remains)\s+(?=(?P<rest>\S.*))",
    re.IGNORECASE,
)
# "my favourite colour has changed, it's green now", "... used to be red, but now it's green"
_FAVOURITE_CHANGED_RE = re.compile(
    r"\bmy\s+" + _FAV_ADJ + _FAV + r"\s+(?P<thing>[a-z][\w'-]*(?:\s+[a-z][\w'-]*){0,2}?)\s+"
    r"(?:has\s+changed|changed|is\s+different(?:\s+now)?|used\s+to\s+be\s+[^,;.!?]+|"
    r"was\s+[^,;.!?]+|isn't\s+[^,;.!?]+|is\s+no\s+longer\s+[^,;.!?]+)"
    r"\s*(?:[,;:—–]|\s-)\s*(?:(?:but|and|so)\s+)?(?:(?:now|these\s+days|nowadays)\s*,?\s*)?"
    r"(?:it's|it\s+is|it\s+has\s+become|it's\s+become)\s+(?=(?P<rest>\S.*))",
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


def _favourite_fact(start: int, sp: _Speaker, thing: str, value: str, be: str) -> _Fact | None:
    thing = " ".join(_clause(thing).split())
    to = _THING_TO.match(thing)
    thing = to.group(0) if to else _THING_TRAIL.sub("", thing)
    _, value = _unhedge(value)
    value = _TRAILING_FILLER.sub("", value).strip(" ,")
    if not thing or len(_words(thing)) > 3 or not _ok_value(value):
        return None
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
def _favourite(sentence: str, sp: _Speaker, _ref: datetime | None) -> Iterator[_Fact]:
    for m in _FAVOURITE_RE.finditer(sentence):
        be = "are" if m["be"].lower() == "are" else "is"
        value = _third_person(_clause(m["rest"]))
        f = _favourite_fact(m.start(), sp, m["thing"], value, be)
        if f:
            yield f
    for m in _FAVOURITE_CHANGED_RE.finditer(sentence):
        f = _favourite_fact(m.start(), sp, m["thing"], _third_person(_clause(m["rest"])), "is")
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
def _likes(sentence: str, sp: _Speaker, _ref: datetime | None) -> Iterator[_Fact]:
    for m in _LIKE_RE.finditer(sentence):
        obj = _third_person(_clause(m["rest"]))
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
            r"with|a\s+fan\s+of)\s+",
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
            r"still|absolutely|kind\s+of|kinda|just)\s+)*my\s+(?:thing|jam|cup\s+of\s+tea)\b",
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
            r"(?:\s+(?:is|are)\s+(?:just\s+|really\s+|simply\s+|definitely\s+)?not|\s+isn't|"
            r"\s+aren't|'s\s+not)\s+(?:really\s+|just\s+|quite\s+)?for\s+me\b"
            r"(?=\s*(?:$|[,;.!]|(?:\s+(?:any\s*more|these\s+days|now|either|sadly|though))+\s*(?:$|[,;.!])))",
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
            verb = (m.groupdict().get("verb") or m.groupdict().get("ing") or "").lower()
            stance = "no" if verb.startswith(("hat", "dislik")) else value
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
def _has(sentence: str, sp: _Speaker, _ref: datetime | None) -> Iterator[_Fact]:
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
def _allergic(sentence: str, sp: _Speaker, _ref: datetime | None) -> Iterator[_Fact]:
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
def _birthday(sentence: str, sp: _Speaker, ref: datetime | None) -> Iterator[_Fact]:
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
def _age(sentence: str, sp: _Speaker, _ref: datetime | None) -> Iterator[_Fact]:
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


def _semantic_and_events(
    text: str, sp: _Speaker, ts: datetime | None, index: int
) -> Iterator[tuple[int, Extracted]]:
    for offset, sentence in _sentence_spans(text):
        if _is_question(sentence):
            continue
        details = _cut(sentence, 20_000)
        said, back = _with_subjects(sentence)
        for rule in _RULES:
            for f in rule(said, sp, ts):
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
        out.extend(item for _, item in items)
    return _dedupe(out)


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
