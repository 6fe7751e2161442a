"""TiM thoughts (research/algorithms.md §3): the deterministic parts.

TiM stores *thoughts*, not raw turns: after each question/answer pair the agent "post-thinks"
and keeps standalone inductive statements, each a relation between two entities (head,
relation, tail). The memory is then organised by *forget* (drop thoughts made outdated or
contradicted by newer ones) and *merge* (fold near-duplicates sharing a head into one). The
LLM versions of these steps live in ``memsvc.services.thought_llm``; this module is their §3.5
fallback, pure functions with no I/O and no randomness.

* ``post_think`` finds ``subject verb [preposition] object`` statements in the answer (and in
  the statements, not questions, of the user's message) with a small verb table and regular
  expressions, resolves "he/she/it/they" and "his/her/its/their" to the most recently named
  subject, else to the question's main entity, and "you/your" in the answer (or "I/my" in the
  question) to the user. When nothing matches it keeps one ``"{question} -> {first sentence of
  the answer}"`` thought with relation ``ANSWER_RELATION``.
* ``contradicted`` is "latest wins": an old thought with the same head and relation but a
  different tail is outdated. Two refinements: a negated relation ("not likes") never
  outdates another tail (not liking tea says nothing about coffee), and flipping the polarity
  of the same triple ("likes tea" then "not likes tea") does outdate it.
* ``merge_groups`` joins thoughts with the same head whose embeddings are near-duplicates
  (cosine >= 0.92), transitively; the oldest of a group survives (its id stays stable) and
  ``merged_thought`` gives it the newest wording.

Quality, honestly: the parser knows a few dozen verbs, needs the subject (at most four words)
right before the verb, cuts the object at the first comma or clause word, and resolves a
pronoun to the last named subject with no notion of gender or number. Latest-wins treats every
relation as single-valued, so "likes coffee" outdates "likes tea"; an LLM (``thought_llm``)
tells a change of fact from an addition. English only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Literal, TypeVar

import numpy as np

from memsvc.algorithms import extraction

__all__ = [
    "ANSWER_RELATION",
    "MERGE_THRESHOLD",
    "THOUGHTS_MAX",
    "USER",
    "MergeCandidate",
    "MergeGroup",
    "Thought",
    "contradicted",
    "merge_groups",
    "merged_thought",
    "normalise_entity",
    "normalise_relation",
    "post_think",
]

K = TypeVar("K")

ANSWER_RELATION = "answer"
"""The relation of a question -> answer summary thought; it never contradicts anything."""

MERGE_THRESHOLD = 0.92
"""Cosine at or above which two thoughts with the same head are near-duplicates (§3.5)."""

THOUGHTS_MAX = 10
"""At most this many thoughts from one question/answer pair."""

USER = "user"
"""The head used for the person talking to the agent ("I" in the question, "you" in the answer)."""

_TEXT_MAX_CHARS = 300
_TAIL_MAX_WORDS = 12
_SUBJECT_MAX_WORDS = 4
_VERB_SEARCH = 9  # the verb must come within this many words of the sentence start


@dataclass(frozen=True)
class Thought:
    """A standalone statement and its (head, relation, tail) triple."""

    text: str
    head: str
    relation: str
    tail: str


def normalise_entity(text: str) -> str:
    """A head or tail as compared: casefolded, possessives, punctuation and a leading article
    dropped, whitespace collapsed ("The Beatles' " -> "beatles")."""
    return extraction.normalise_entity(text)


# --- word lists ---------------------------------------------------------------------------

# (base, third person, past) of the verbs the fallback reads as relations.
_VERB_TABLE = """
like likes liked; love loves loved; enjoy enjoys enjoyed; hate hates hated;
prefer prefers preferred; own owns owned; live lives lived; work works worked;
study studies studied; play plays played; visit visits visited; want wants wanted;
speak speaks spoke; teach teaches taught; know knows knew; drive drives drove;
use uses used; need needs needed; read reads read; watch watches watched;
attend attends attended; collect collects collected; support supports supported;
manage manages managed; lead leads led; run runs ran; write writes wrote; move moves moved;
go goes went; come comes came; meet meets met; marry marries married; adopt adopts adopted;
join joins joined; grow grows grew; keep keeps kept; buy buys bought; sell sells sold;
eat eats ate; drink drinks drank; cook cooks cooked; wear wears wore; build builds built;
practice practices practiced; practise practises practised; travel travels travelled;
belong belongs belonged; stay stays stayed; miss misses missed; follow follows followed;
create creates created; sing sings sang; paint paints painted; fear fears feared;
dislike dislikes disliked; admire admires admired; trust trusts trusted; earn earns earned
"""
_THIRD: dict[str, str] = {}  # base or third person -> third person
_PAST: dict[str, str] = {}  # past -> past
_BASE: dict[str, str] = {}  # any form -> base
_PAST_OF: dict[str, str] = {}  # base -> past
for _entry in _VERB_TABLE.replace("\n", " ").split(";"):
    _base, _third, _past = _entry.split()
    _THIRD.setdefault(_base, _third)
    _THIRD.setdefault(_third, _third)
    _PAST.setdefault(_past, _past)
    _PAST_OF.setdefault(_base, _past)
    for _form in (_base, _third, _past):
        _BASE.setdefault(_form, _base)
_ING: dict[str, str] = {}  # -ing form -> base ("living" -> "live")
for _base in set(_BASE.values()):
    _stem = _base[:-1] if _base.endswith("e") and not _base.endswith("ee") else _base
    _ING[_stem + "ing"] = _base
_ING.update({"running": "run", "travelling": "travel", "traveling": "travel"})

_BE = {"is": "is", "are": "is", "am": "is", "was": "was", "were": "was"}
_HAVE = {"has": "has", "have": "has", "had": "had"}
_DO = {"do": "present", "does": "present", "did": "past"}
_MODALS = frozenset("will would can could should may might must shall".split())
_FACT_MODALS = frozenset({"will", "shall"})
_NEGATIONS = frozenset({"not", "never", "no"})
_ADVERBS = frozenset(
    """
    also really still now currently usually often always just recently already actually
    sometimes mostly definitely longer even truly finally generally mainly
    """.split()
)
_AUX = frozenset({*_DO, *_MODALS, *_NEGATIONS, *_ADVERBS})
# "is married to", "was born in": be + participle read as one relation
_PARTICIPLES = frozenset(
    """
    married engaged related based located born employed interested allergic afraid divorced
    raised named called known friends
    """.split()
)
_PREPS = frozenset("in at for to from with on of as by near into about".split())
_ADJUNCT_PREPS = _PREPS - {"of"} | {"during", "since", "until", "after", "before", "like"}
_CLAUSE_BREAK = frozenset(
    """
    because but which who whom whose when while since although though where so if until unless
    whereas after before
    """.split()
)
_CONJUNCTIONS = frozenset({"and", "or"})
_DETERMINERS = frozenset({"a", "an", "the", "some", "any"})
_TRAILING = frozenset(
    "now currently too also anymore again though really lately nowadays still here there".split()
)
_THIRD_PRONOUNS = frozenset({"he", "she", "it", "they"})
_THIRD_POSSESSIVES = frozenset({"his", "her", "its", "their"})
_OBJECT_PRONOUNS = frozenset(
    "him her them it me us you this that these those there here one so too".split()
)
_SUBJECT_BLOCK = frozenset(
    """
    there here this that these those what which who whom whose where when why how if as
    because but so then yes no ok okay well please thanks thank hi hello hey him her them me
    us one someone something anyone anything everyone everything nothing nobody all both each
    some many most none to in on at for with from by
    """.split()
)
_QUESTION_SKIP = frozenset(
    """
    what which who whom whose where when why how is are was were am do does did can could
    would will should shall may might must have has had i me my mine we us our you your
    he him his she her it its they them their the a an this that these those there here to
    of in on at for with from by about and or but not no yes please tell know think say
    any some much many there s favourite favorite best good new old current last first
    """.split()
)
_IMPERATIVES = frozenset(
    "remind tell show give help explain describe recall remember list name find let please".split()
)
_CONNECTORS = frozenset({"of", "the", "de", "la", "van", "von", "and"})
# never inside a subject: inflected verbs and auxiliaries (base forms are often nouns too)
_NOT_NOUNS = frozenset(
    {*_THIRD.values(), *_PAST, *_ING, *_BE, *_HAVE, *_AUX, "been", "be", "being"}
)
_TIME_TAIL = re.compile(
    r"(?:\s+(?:(?:last|this|next|every)\s+(?:week|weekend|month|year|summer|winter|spring|"
    r"autumn|fall|night|morning|evening|time)|yesterday|today|tonight|tomorrow|"
    r"\w+\s+(?:days?|weeks?|months?|years?)\s+ago|(?:in|since)\s+\d{4}))+$",
    re.IGNORECASE,
)
_INTERJECTION = re.compile(
    r"^(?:(?:yes|yeah|yep|no|nope|well|sure|ok|okay|actually|indeed|right|so|oh|of course|"
    r"i think|i believe|as far as i know|i remember|i recall)\b[\s,!.:-]*)+",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(
    r"(?<!\bMr)(?<!\bMrs)(?<!\bMs)(?<!\bDr)(?<!\bSt)(?<=[.!?…])[\"'”’)\]]*\s+|\n+|;\s+"
)
_COORDINATION = re.compile(r",?\s+(?:and|but)\s+(?=(?:he|she|they|it|i|you|we)\b)", re.IGNORECASE)
_CONTRACTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b(won)['’]t\b", re.IGNORECASE), "will not"),
    (re.compile(r"\b(can)['’]t\b", re.IGNORECASE), r"\1 not"),
    (re.compile(r"n['’]t\b", re.IGNORECASE), " not"),
    (re.compile(r"\b(he|she|it|that|there|what|who|here)['’]s\b", re.IGNORECASE), r"\1 is"),
    (re.compile(r"['’]re\b", re.IGNORECASE), " are"),
    (re.compile(r"['’]m\b", re.IGNORECASE), " am"),
    (re.compile(r"['’]ve\b", re.IGNORECASE), " have"),
    (re.compile(r"['’]ll\b", re.IGNORECASE), " will"),
    (re.compile(r"['’]d\b", re.IGNORECASE), " would"),
)
_TOKEN = re.compile(r"[^\W_]+(?:['’.&-][^\W_]+)*|[^\w\s]")


def _is_word(token: str) -> bool:
    return token[:1].isalnum()


def _low(token: str) -> str:
    return token.lower().replace("’", "'")


def _clip(text: str, limit: int = _TEXT_MAX_CHARS) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0] or text[: limit - 1]
    return cut + "…"


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def _clauses(sentence: str) -> list[str]:
    """A sentence split before "and/but" + pronoun ("..., and she lives in Madrid")."""
    return [c.strip() for c in _COORDINATION.split(sentence) if c.strip()]


def _expand(sentence: str) -> str:
    for pattern, replacement in _CONTRACTIONS:
        sentence = pattern.sub(replacement, sentence)
    return sentence


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


# --- relations ----------------------------------------------------------------------------


def normalise_relation(relation: str) -> str:
    """A relation as compared: lower case, whitespace collapsed, and the verb's person
    unified ("like" and "likes" -> "likes", "are" -> "is", "were" -> "was", "have" -> "has")."""
    words = " ".join(relation.casefold().replace("’", "'").split()).split()
    if not words:
        return ""
    first = words[0]
    first = _BE.get(first) or _HAVE.get(first) or _THIRD.get(first) or first
    return " ".join([first, *words[1:]])


_NEGATED_PREFIXES = ("not ", "never ", "no longer ", "does not ", "do not ", "did not ")


def _polarity(relation: str) -> tuple[str, bool]:
    """The relation without its negation, and whether it was negated."""
    r = " ".join(relation.casefold().replace("’", "'").replace("n't", " not").split())
    for prefix in _NEGATED_PREFIXES:
        if r.startswith(prefix):
            return normalise_relation(r[len(prefix) :]), True
    words = r.split()
    if len(words) >= 2 and words[1] in ("not", "never") and (words[0] in _BE or words[0] in _HAVE):
        return normalise_relation(" ".join([words[0], *words[2:]])), True
    return normalise_relation(r), False


# --- post-thinking --------------------------------------------------------------------------

Perspective = Literal["user", "assistant"]


@dataclass
class _Context:
    question_name: str | None  # the question's first name: "he/she/they" may stand for it
    question_topic: str | None  # that, or its first noun-ish word: "it" may stand for it
    antecedent: str | None = None  # the most recently named subject


@dataclass(frozen=True)
class _Clause:
    subject_end: int  # words[:subject_end] is the subject
    verb_start: int
    object_start: int
    relation: str
    negated: bool


def _main_verb(words: list[str], v: int) -> tuple[str, int, bool] | None:
    """(relation without negation, index after the verb group, negated) for the verb at ``v``,
    with the auxiliaries words[s:v] already known to precede it; None when ``v`` is no verb."""
    low = _low(words[v])
    n = len(words)
    k = v + 1
    negated = False
    if low in _BE or low in _HAVE:
        while k < n and _low(words[k]) in (_ADVERBS | _NEGATIONS):
            negated = negated or _low(words[k]) in _NEGATIONS
            k += 1
        nxt = _low(words[k]) if k < n else ""
        if low in _BE and nxt in _ING:  # "is living in" -> "lives in"
            base = _ING[nxt]
            return (_PAST_OF[base] if _BE[low] == "was" else _THIRD[base]), k + 1, negated
        if low in _BE and nxt in _PARTICIPLES:
            return f"{_BE[low]} {nxt}", k + 1, negated
        if low in _BE and nxt in _PAST:
            return None  # a passive ("was built in"): the subject is no actor
        if low in _HAVE and nxt in _PAST and nxt != "been":
            return nxt, k + 1, negated
        if low in _HAVE and nxt == "been":
            return None
        return (_BE.get(low) or _HAVE[low]), k, negated
    if low in _THIRD or low in _PAST:
        return (_THIRD.get(low) or _PAST[low]), k, negated
    return None


def _clause(words: list[str]) -> _Clause | None:
    """The first ``subject aux* verb [preposition]`` of a sentence's words."""
    for v in range(1, min(len(words), _VERB_SEARCH)):
        low = _low(words[v])
        if not (low in _BE or low in _HAVE or low in _THIRD or low in _PAST):
            continue
        s = v
        while s > 0 and _low(words[s - 1]) in _AUX:
            s -= 1
        if s == 0:
            return None
        aux = [_low(w) for w in words[s:v]]
        found = _main_verb(words, v)
        if found is None:
            return None
        relation, k, negated = found
        negated = negated or any(a in _NEGATIONS for a in aux)
        modal = next((a for a in aux if a in _MODALS), None)
        if modal is not None and modal not in _FACT_MODALS:
            return None  # advice or a possibility ("you should visit"), not a fact
        if modal is not None:
            relation = " ".join([modal, _BASE.get(relation.split()[0], relation.split()[0])])
        elif "did" in aux and relation in _THIRD:
            relation = _PAST_OF[_BASE[relation]]
        if k < len(words) and _low(words[k]) in _PREPS:
            relation = f"{relation} {_low(words[k])}"
            k += 1
        return _Clause(s, s, k, relation, negated)
    return None


def _agree(verb_words: list[str]) -> list[str]:
    """The verb group made third person singular (for "you/they/I" replaced by a name)."""
    if not verb_words:
        return verb_words
    first = _low(verb_words[0])
    fixed = {"are": "is", "am": "is", "were": "was", "have": "has", "do": "does"}.get(first)
    if fixed is None and first in _BASE and first in _THIRD and _THIRD[first] != first:
        fixed = _THIRD[first]
    return [fixed, *verb_words[1:]] if fixed else verb_words


def _subject(
    words: list[str], perspective: Perspective, ctx: _Context
) -> tuple[str, str, bool] | None:
    """(head, subject text, replaced) for a clause's subject words; None when the subject is
    not something a thought can be about (the assistant, "this", an unresolvable pronoun)."""
    if not all(_is_word(w) for w in words) or len(words) > _SUBJECT_MAX_WORDS:
        return None
    lows = [_low(w) for w in words]
    first = lows[0]
    self_words: tuple[str, ...] = ("i", "we")
    user_words: tuple[str, ...] = ("you",)
    self_poss: tuple[str, ...] = ("my", "our")
    user_poss: tuple[str, ...] = ("your",)
    if perspective == "user":
        self_words, user_words, self_poss, user_poss = user_words, self_words, user_poss, self_poss
    rest = " ".join(words[1:])
    if len(words) == 1 and first in user_words:
        return USER, "the user", True
    if len(words) == 1 and first in self_words:
        return None
    if len(words) == 1 and first == "it":  # a thing: the question's topic, never a person
        who = ctx.question_topic
        return (who, who, True) if who else None
    if len(words) == 1 and first in _THIRD_PRONOUNS:
        who = ctx.antecedent or ctx.question_name
        return (who, who, True) if who else None
    if first in user_poss and len(words) > 1:
        return f"{USER}'s {rest}", f"the user's {rest}", False
    if first in self_poss:
        return None
    if first in _THIRD_POSSESSIVES and len(words) > 1:
        who = ctx.antecedent or ctx.question_name
        return (f"{who}'s {rest}", f"{who}'s {rest}", False) if who else None
    if first in _SUBJECT_BLOCK or first in _THIRD_PRONOUNS:
        return None
    if any(w in _SUBJECT_BLOCK or w in _THIRD_PRONOUNS or w in _NOT_NOUNS for w in lows[1:]):
        return None
    if first in _DETERMINERS and len(words) > 1:
        return rest, " ".join(words), False
    # a name: capitalised words, with "of", "and", "the" ... only inside
    if not all(w[:1].isupper() or low in _CONNECTORS for w, low in zip(words, lows, strict=True)):
        return None
    if lows[0] in _CONNECTORS or lows[-1] in _CONNECTORS:
        return None
    return " ".join(words), " ".join(words), False


def _tail(words: list[str]) -> tuple[list[str], str] | None:
    """(the object's words as written, the tail) from the words after the verb group.

    The object runs to the first punctuation, clause word or "and"/"or" before a new verb;
    the tail is its head phrase: leading article, adjuncts from a preposition other than "of"
    on ("Acme as an engineer" -> "Acme"), trailing time words and adverbs dropped.
    """
    out: list[str] = []
    for i, w in enumerate(words):
        low = _low(w)
        if not _is_word(w) or low in _CLAUSE_BREAK:
            break
        if low in _CONJUNCTIONS and i + 1 < len(words):
            nxt = _low(words[i + 1])
            if nxt in _THIRD_PRONOUNS or nxt in _AUX or nxt in _THIRD or nxt in _PAST:
                break
            if nxt in _BE or nxt in _HAVE or nxt in ("i", "you", "we"):
                break
        out.append(w)
        if len(out) >= _TAIL_MAX_WORDS:
            break
    while out and _low(out[-1]) in (_TRAILING | _CONJUNCTIONS):
        out.pop()
    if not out:
        return None
    core = out[1:] if _low(out[0]) in _DETERMINERS and len(out) > 1 else out
    cut = next((i for i, w in enumerate(core) if i > 0 and _low(w) in _ADJUNCT_PREPS), None)
    core = core[:cut]
    while len(core) > 1 and _low(core[-1]) in _TRAILING:
        core.pop()
    if len(core) == 1 and _low(core[0]) in _OBJECT_PRONOUNS:
        return None
    tail = _TIME_TAIL.sub("", " ".join(core)).strip()
    if not any(c.isalnum() for c in tail):
        return None
    return out, tail


def _thought_of(sentence: str, perspective: Perspective, ctx: _Context) -> Thought | None:
    sentence = _INTERJECTION.sub("", _expand(sentence.strip()))
    words = _TOKEN.findall(sentence)
    clause = _clause(words)
    if clause is None:
        return None
    subject = _subject(words[: clause.subject_end], perspective, ctx)
    if subject is None:
        return None
    head, subject_text, replaced = subject
    found = _tail(words[clause.object_start :])
    if found is None:
        return None
    object_words, tail = found
    if _low(words[0]) == "it" and clause.subject_end == 1:
        if any(_low(w) in ("to", "that") for w in object_words):
            return None  # "it is hard to say": "it" stands for no thing
    verb_words = words[clause.verb_start : clause.object_start]
    pronoun = _low(words[0]) if clause.subject_end == 1 else ""
    if replaced and pronoun in ("you", "they", "i", "we"):
        verb_words = _agree(verb_words)
    relation = ("not " if clause.negated else "") + clause.relation
    text = _clip(_capitalise(" ".join([subject_text, *verb_words, *object_words])))
    if head != USER and not head.startswith(f"{USER}'s"):
        ctx.antecedent = head
    return Thought(text=text, head=head, relation=relation, tail=_clip(tail, 120))


def _spans(text: str) -> list[str]:
    """Runs of capitalised words (names), in order of appearance; question words and other
    function words never start one, possessive "'s" is dropped."""
    spans: list[str] = []
    current: list[str] = []
    for token in _TOKEN.findall(_expand(text)):
        word = re.sub(r"['’]s$", "", token)
        low = _low(word)
        if (
            _is_word(word)
            and word[:1].isupper()
            and low not in _QUESTION_SKIP
            and low not in _BASE
            and low not in _IMPERATIVES
        ):
            current.append(word)
            if word != token:  # "Alice's": the name ends here
                spans.append(" ".join(current))
                current = []
            continue
        if current and low in _CONNECTORS and _is_word(word):
            current.append(word)
            continue
        while current and _low(current[-1]) in _CONNECTORS:
            current.pop()
        if current:
            spans.append(" ".join(current))
        current = []
    while current and _low(current[-1]) in _CONNECTORS:
        current.pop()
    if current:
        spans.append(" ".join(current))
    return spans


def _main_entity(text: str) -> str | None:
    """The question's main entity: its first name, else its first noun-ish word."""
    spans = _spans(text)
    if spans:
        return spans[0]
    for token in _TOKEN.findall(_expand(text)):
        low = _low(token)
        if (
            _is_word(token)
            and len(low) > 2
            and low.isalpha()
            and low not in _QUESTION_SKIP
            and low not in _SUBJECT_BLOCK
            and low not in _BASE
            and low not in _ING
            and low not in _ADVERBS
        ):
            return low
    return None


def _key(t: Thought) -> tuple[str, str, str]:
    return normalise_entity(t.head), normalise_relation(t.relation), normalise_entity(t.tail)


def post_think(question: str, answer: str) -> list[Thought]:
    """Inductive thoughts from a question/answer pair, without a model (see the module doc).

    Statements are read from the user's message (sentences not ending in "?") and from the
    answer, deduplicated on the normalised triple, at most ``THOUGHTS_MAX``. When none is
    found: one ``ANSWER_RELATION`` thought about the question's main entity. Empty only when
    both texts are blank.
    """
    question = " ".join(question.split())
    answer = answer.strip()
    if not question and not answer:
        return []
    names = _spans(question)
    ctx = _Context(question_name=names[0] if names else None, question_topic=_main_entity(question))
    found: dict[tuple[str, str, str], Thought] = {}
    sources: list[tuple[str, Perspective]] = [
        *(
            (c, "user")
            for s in _sentences(question)
            if not s.rstrip().endswith("?")
            for c in _clauses(s)
        ),
        *((c, "assistant") for s in _sentences(answer) for c in _clauses(s)),
    ]
    for sentence, perspective in sources:
        thought = _thought_of(sentence, perspective, ctx)
        if thought is not None:
            found.setdefault(_key(thought), thought)
        if len(found) >= THOUGHTS_MAX:
            break
    if found:
        return list(found.values())
    first = _clip(next(iter(_sentences(" ".join(answer.split()))), ""))
    head = ctx.question_topic or _main_entity(first) or (question or first).split()[0]
    text = f"{question} -> {first}" if question and first else (question or first)
    return [Thought(text=_clip(text), head=head, relation=ANSWER_RELATION, tail=first)]


# --- forget -----------------------------------------------------------------------------------


# Relations that hold one value at a time: a new tail replaces the old one ("lives in Paris"
# then "lives in Berlin"). Others hold many ("likes tea" and "likes coffee" are both true), so
# only a flipped polarity outdates them. Compared after normalise_relation.
SINGLE_VALUED = frozenset(
    {
        "lives in",
        "lives at",
        "lives with",
        "works at",
        "works for",
        "works as",
        "is married to",
        "is engaged to",
        "is dating",
        "is named",
        "is called",
        "is located in",
        "is based in",
        "is from",
        "was born in",
        "was born on",
        "studies at",
        "is aged",
        "is the ceo of",
        "is the manager of",
        "is head of",
    }
)


def single_valued(relation: str) -> bool:
    return normalise_relation(relation) in SINGLE_VALUED


def contradicted(new: Thought, old: Sequence[tuple[K, Thought]]) -> list[K]:
    """The keys of the ``old`` thoughts that ``new`` outdates, in input order (latest wins).

    Same normalised head and a single-valued relation (SINGLE_VALUED) with a different
    normalised tail outdates the old thought; so does the same head, relation and tail with
    the opposite polarity ("likes tea" vs "not likes tea"). A negated relation never outdates
    a different tail, and
    ``ANSWER_RELATION`` thoughts neither outdate nor are outdated.
    """
    head = normalise_entity(new.head)
    tail = normalise_entity(new.tail)
    relation, negated = _polarity(new.relation)
    if not head or not tail or not relation or relation == ANSWER_RELATION:
        return []
    out: list[K] = []
    for key, thought in old:
        old_relation, old_negated = _polarity(thought.relation)
        if old_relation != relation or normalise_entity(thought.head) != head:
            continue
        old_tail = normalise_entity(thought.tail)
        if negated == old_negated:
            if not negated and old_tail != tail and relation in SINGLE_VALUED:
                out.append(key)
        elif old_tail == tail:
            out.append(key)
    return out


# --- merge ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MergeCandidate(Generic[K]):
    key: K
    thought: Thought
    vector: np.ndarray  # the thought's embedding (L2-normalised; normalised again here anyway)
    created_at: datetime


@dataclass(frozen=True)
class MergeGroup(Generic[K]):
    survivor: K  # the oldest thought of the group: its id stays
    members: tuple[K, ...]  # the others, oldest first: folded into the survivor


def _unit_rows(vectors: Sequence[np.ndarray]) -> np.ndarray:
    rows = [np.asarray(v, dtype=np.float64).ravel() for v in vectors]
    if len({len(r) for r in rows}) > 1:
        raise ValueError("merge candidates have vectors of different dimensions")
    matrix = np.vstack(rows)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)


def merge_groups(
    items: Sequence[MergeCandidate[K]], threshold: float = MERGE_THRESHOLD
) -> list[MergeGroup[K]]:
    """Groups of near-duplicate thoughts: same normalised head and cosine >= ``threshold``,
    joined transitively (a~b and b~c make one group even when a and c are further apart).

    Only groups of two or more are returned. The survivor is the oldest (``created_at``, then
    input position), members follow oldest first, and groups come in the order of their
    survivors (oldest first). A zero vector is near nothing.
    """
    n = len(items)
    if n < 2:
        return []
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    by_head: dict[str, list[int]] = {}
    for i, item in enumerate(items):
        head = normalise_entity(item.thought.head)
        if head:
            by_head.setdefault(head, []).append(i)
    for positions in by_head.values():
        if len(positions) < 2:
            continue
        unit = _unit_rows([items[i].vector for i in positions])
        sims = unit @ unit.T
        for a in range(len(positions)):
            for b in range(a + 1, len(positions)):
                if sims[a, b] >= threshold:
                    ra, rb = find(positions[a]), find(positions[b])
                    if ra != rb:
                        parent[max(ra, rb)] = min(ra, rb)

    def age(i: int) -> tuple[datetime, int]:
        return items[i].created_at, i

    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    out = []
    for members in groups.values():
        if len(members) < 2:
            continue
        members.sort(key=age)
        out.append((age(members[0]), members))
    out.sort(key=lambda pair: pair[0])
    return [
        MergeGroup(survivor=items[m[0]].key, members=tuple(items[i].key for i in m[1:]))
        for _, m in out
    ]


def merged_thought(group_thoughts: Sequence[Thought]) -> Thought:
    """The fallback wording of a merged group (given oldest to newest): the newest thought, the
    one most likely to be current, whose head is the group's (all share it, normalised)."""
    if not group_thoughts:
        raise ValueError("merged_thought needs at least one thought")
    return group_thoughts[-1]
