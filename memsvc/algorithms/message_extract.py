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
**semantic** (user messages; present-tense first-person statements, one clause each):

=========================================================  ==========================  =====
statement                                                   attribute                   value
=========================================================  ==========================  =====
I live / reside in X, I'm living / based in X,              ``lives_in``                x
I (just) moved / relocated to X
I'm (originally) from X, I come from X                      ``from``                    x
I work at/for X, I'm working at X, I'm employed by X,       ``works_at``                x
I (just) started (working / a new job) at X, I got a job
at X, I'm a <job> at X
I study at X, I'm studying at X, I'm a student at X         ``studies_at``              x
I'm a/an <job>, I work as a/an X                            ``job``                     x
I'm married / single / engaged / divorced / widowed         ``relationship``            word
I'm vegetarian / vegan / pescatarian / flexitarian          ``diet``                    word
my name is X, my name's X, call me X (X capitalised)        ``name``                    x
my <pet or relative> is called/named X, my <pet>'s name     ``name_of:<pet>``           x
is X, I have a <pet> called X, my <pet or relative> X
(X capitalised)
my favourite X is Y, Y is my favourite X                    ``favourite:<x>``           y
I like / love / enjoy / prefer / adore X, I'm a fan of X,   ``likes:<x>``               yes
I'm into X
I don't like X, I no longer like X, I hate / dislike /      ``likes:<x>``               no
detest / loathe X, I can't stand X, I'm not a fan of X
I have / own / I've got a/an/<count> X                      ``has:<x>`` (singular)      yes /
                                                                                        count
I don't have a/an X                                         ``has:<x>``                 no
I'm (not) allergic to X (lists split on commas, and, or)    ``allergic_to:<x>``         yes/no
my birthday is X, I was born on X                           ``birthday``                date
I was born in <year> / in <place>                           ``birth_year`` / ``born_in``  x
I'm N (years old), I just turned N                          ``age``                     n
=========================================================  ==========================  =====

The value is the clause after the trigger, cut at the first clause boundary (punctuation, "but",
"because", "which", "and I/my/we ...", ...) and at slot-specific words ("with", "as", "since",
...), without trailing fillers ("now", "anymore", "for 3 years") or time expressions ("in
2019"), and without a leading article. ``content`` is canonical ("Sam lives in Berlin.",
"Sam's dog is called Max.", "Sam does not like coffee."), pronouns turned to the third person
("my" -> "their"). <job> is a word from a list of occupations or an -er/-or/-ist/-eer noun that
is not a known non-occupation ("believer", "runner", "optimist"); "former"/"aspiring"/"big"
and similar first words disqualify it.

Not extracted (limits): statements in questions (a final "?", or a first word that opens a
question: do/did/is/can/what/where/...); clauses after hypothetical or irrealis words in the
same sentence (if, unless, suppose, imagine, wish, hope, whether, maybe, perhaps, when,
where, ...) and text after a double quotation mark (reported speech); negated or past
statements ("I don't live in Berlin", "I used to work at X", "I lived in Paris": the last may
be an *event*); future or intended ones ("I'm moving to X", "I want to work at X"); "we"
statements; facts about third parties ("my sister lives in Rome", "Sam lives in Berlin");
"I'm Sam". A place or employer starting with a/an/my/this/... or "the <lower-case word>" ("I
live in a small flat", "I moved to the suburbs") is skipped as too vague to fill the slot.
Values are cut at the first "and" only when a new clause follows, so "Procter and Gamble"
survives but "hiking and swimming" is one ``likes`` slot. A pronoun object ("I love it",
"I like your idea") is skipped. Objects longer than ``MAX_VALUE_WORDS`` words are skipped.

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
from dataclasses import dataclass
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
    r"really|still|either|anyway|for\s+(?:now|good|sure)|"
    r"for\s+(?:about\s+|over\s+|almost\s+|nearly\s+|the\s+(?:past|last)\s+)?"
    r"(?:\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|a\s+few|several|many|"
    r"some|a\s+couple\s+of)\s+(?:days?|weeks?|months?|years?|decades?)))+$",
    re.IGNORECASE,
)


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


def _blocked(sentence: str, start: int) -> bool:
    """Whether a statement starting at ``start`` is hypothetical, subordinate or quoted."""
    before = sentence[:start]
    if '"' in before or "“" in before:
        return True
    words = _words(before)
    if words and words[-1] in _IMMEDIATE_BLOCKERS:
        return True
    return any(w in _HYPOTHETICAL for w in words)


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


def _ok_place(value: str) -> bool:
    """A place or organisation specific enough to fill a slot."""
    if not _ok_value(value):
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


_PLACE_STOPS = re.compile(
    r"\s+(?:with|near|close\s+to|next\s+to|for|as|in\s+(?:a|an|the|my|our)\b|on\s+(?:a|an|the)\b"
    r"|at\s+the\s+moment|because|and\s+(?:work|study|love|like|have))\b",
    re.IGNORECASE,
)
_LIVES_RES = [
    re.compile(rf"\bi\s+{_ADV}(?:live|reside)\s+in\s+(?=(?P<rest>\S.*))", re.IGNORECASE),
    re.compile(
        rf"{_I_AM}\s+{_ADV}(?:living|residing|based|located|settled)\s+(?:in|out\s+of)\s+"
        r"(?=(?P<rest>\S.*))",
        re.IGNORECASE,
    ),
    re.compile(
        rf"\bi(?:'ve|\s+have)?\s+{_ADV}(?:moved|relocated)\s+(?:back\s+|over\s+)?to\s+"
        r"(?=(?P<rest>\S.*))",
        re.IGNORECASE,
    ),
]


@_rule
def _lives_in(sentence: str, sp: _Speaker, _ref: datetime | None) -> Iterator[_Fact]:
    for rx in _LIVES_RES:
        for m in rx.finditer(sentence):
            place = _third_person(_clause(m["rest"], _PLACE_STOPS))
            if _ok_place(place):
                yield _fact(m.start(), "lives_in", _norm(place), f"{sp.display} lives in {place}.")


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
    "home myself me it them free hours money least night nights weekends noon midnight".split()
)
_WORKS_RES = [
    re.compile(
        rf"(?:\bi\s+{_ADV}work|{_I_AM}\s+{_ADV}(?:working|employed))\s+(?P<prep>at|for|by)\s+"
        r"(?=(?P<rest>\S.*))",
        re.IGNORECASE,
    ),
    re.compile(
        rf"\bi(?:'ve|\s+have)?\s+{_ADV}(?:started|begun|began)\s+"
        r"(?:(?:working|work|a\s+new\s+job|a\s+job|my\s+new\s+job|a\s+new\s+role|a\s+new\s+position)"
        r"\s+)?(?P<prep>at)\s+(?=(?P<rest>\S.*))",
        re.IGNORECASE,
    ),
    re.compile(
        rf"\bi(?:'ve|\s+have)?\s+{_ADV}got\s+(?:a\s+|the\s+|my\s+dream\s+)?(?:new\s+)?job\s+"
        r"(?P<prep>at|with)\s+(?=(?P<rest>\S.*))",
        re.IGNORECASE,
    ),
]


def _org_ok(org: str) -> bool:
    words = _words(org)
    return bool(words) and words[0] not in _ORG_SKIP and not org[:1].isdigit() and _ok_value(org)


def _works_fact(start: int, sp: _Speaker, prep: str, org: str) -> _Fact:
    prep = "for" if prep.lower() in ("for", "by") else "at"
    return _fact(start, "works_at", _norm(org), f"{sp.display} works {prep} {org}.")


@_rule
def _works_at(sentence: str, sp: _Speaker, _ref: datetime | None) -> Iterator[_Fact]:
    for rx in _WORKS_RES:
        for m in rx.finditer(sentence):
            org = _third_person(_clause(m["rest"], _ORG_STOPS))
            if _org_ok(org):
                yield _works_fact(m.start(), sp, m["prep"], org)


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
    if capitalised and not all(w[:1].isupper() for w in words):
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
    re.compile(
        r"\bmy\s+(?:[a-z]+\s+)?(?P<kin>" + _NAMED + r")(?:'s\s+name\s+is|\s+is\s+(?:called|named)"
        r"|,?\s+(?:called|named))\s+(?=(?P<rest>\S.*))",
        re.IGNORECASE,
    ),
    re.compile(
        r"\b(?:i\s+(?:have|own|adopted|got)|i've\s+got|i\s+have\s+got|we\s+have|we\s+adopted)"
        r"\b[^.;!?]*?\ban?\s+(?:[a-z]+\s+)?(?P<kin>" + _PETS + r")\s+(?:called|named)\s+"
        r"(?=(?P<rest>\S.*))",
        re.IGNORECASE,
    ),
]
_MY_KIN_NAME_RE = re.compile(
    r"\bmy\s+(?P<kin>" + _NAMED + r"),?\s+(?=(?P<rest>[A-Z][a-z]+\b))", re.IGNORECASE
)
_NOT_NAMES = frozenset(
    """i is was has had and but or the a an my he she it they we you his her their its this
    that who which loves likes hates says said just also really always never still went got
    does did can could will would should might must mr mrs ms dr""".split()
)


@_rule
def _name_of(sentence: str, sp: _Speaker, _ref: datetime | None) -> Iterator[_Fact]:
    for m in _NAMED_RES[0].finditer(sentence):
        name = _name_value(m["rest"], capitalised=False)
        if name:
            kin = " ".join(m["kin"].lower().split())
            yield _fact(
                m.start(),
                f"name_of:{kin}",
                _norm(name),
                f"{sp.possessive} {kin} is called {name}.",
            )
    for m in _NAMED_RES[1].finditer(sentence):
        name = _name_value(m["rest"], capitalised=False)
        if name:
            kin = " ".join(m["kin"].lower().split())
            yield _fact(
                m.start(),
                f"name_of:{kin}",
                _norm(name),
                f"{sp.possessive} {kin} is called {name}.",
            )
    for m in _MY_KIN_NAME_RE.finditer(sentence):
        name = m["rest"]
        if not name[:1].isupper() or name.lower() in _NOT_NAMES:
            continue
        low = name.lower()
        if low in _MONTH_NAMES or low in _WEEKDAYS or low in _TIME_WORDS:
            continue
        kin = " ".join(m["kin"].lower().split())
        yield _fact(
            m.start(),
            f"name_of:{kin}",
            low,
            f"{sp.possessive} {kin} is called {name}.",
        )


_FAV = r"favou?rite"
_FAVOURITE_RE = re.compile(
    r"\bmy\s+(?:(?:all[-\s]time|absolute|very|current|new|personal)\s+)?" + _FAV + r"\s+"
    r"(?P<thing>[a-z][\w'-]*(?:\s+[a-z][\w'-]*){0,2}?)\s+(?P<be>is|are|'s|has\s+to\s+be)\s+"
    r"(?=(?P<rest>\S.*))",
    re.IGNORECASE,
)
_FAVOURITE_REV_RE = re.compile(
    r"(?:^|[,;:]\s*|\band\s+)(?P<val>[^\W_][\w' .&-]{0,60}?)\s+(?P<be>is|are)\s+my\s+"
    r"(?:(?:all[-\s]time|absolute|very|personal)\s+)?" + _FAV + r"\s+(?=(?P<rest>\S.*))",
    re.IGNORECASE,
)
_THING_TRAIL = re.compile(r"(?:\s+(?:ever|of\s+all\s+time|by\s+far|in\s+the\s+world))+$", re.I)


def _favourite_fact(start: int, sp: _Speaker, thing: str, value: str, be: str) -> _Fact | None:
    thing = _THING_TRAIL.sub("", " ".join(thing.split()))
    if not thing or len(_words(thing)) > 3 or not _ok_value(value):
        return None
    key = _norm(thing)
    return _fact(
        start,
        f"favourite:{key}",
        _norm(value),
        f"{sp.possessive} favourite {thing} {be} {value}.",
    )


@_rule
def _favourite(sentence: str, sp: _Speaker, _ref: datetime | None) -> Iterator[_Fact]:
    for m in _FAVOURITE_RE.finditer(sentence):
        be = "is" if m["be"].lower() in ("'s", "has to be") else m["be"].lower()
        value = _third_person(_clause(m["rest"]))
        f = _favourite_fact(m.start(), sp, m["thing"], value, be)
        if f:
            yield f
    for m in _FAVOURITE_REV_RE.finditer(sentence):
        val = m["val"].strip()
        if _words(val)[:1] and _words(val)[0] in _QUESTION_OPENERS:
            continue
        thing = _clause(m["rest"])
        f = _favourite_fact(m.start("val"), sp, thing, _third_person(val), m["be"].lower())
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
    r"(?:\s+(?:very\s+much|so\s+much|a\s+lot|the\s+most|best|more|most))+$", re.IGNORECASE
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


def _like_key(obj: str) -> str | None:
    key = _LIKE_FILLERS.sub("", obj)
    if key.lower().startswith("to "):
        key = key[3:]
        first = (_words(key) or [""])[0]
        if first in _MENTAL_AFTER_TO:
            return None
    else:
        # "I prefer tea over coffee": the slot is the first thing.
        cut = _PREFER_CUT.search(key)
        if cut:
            key = key[: cut.start()]
    key = _norm(key)
    return key if _ok_value(key) else None


@_rule
def _likes(sentence: str, sp: _Speaker, _ref: datetime | None) -> Iterator[_Fact]:
    for m in _LIKE_RE.finditer(sentence):
        obj = _third_person(_clause(m["rest"]))
        if not _ok_value(obj):
            continue
        key = _like_key(obj)
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
        for rule in _RULES:
            for f in rule(sentence, sp, ts):
                if _blocked(sentence, f.start):
                    continue
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
