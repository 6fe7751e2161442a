"""Deterministic (no-LLM) MemoryBank summaries and user portraits.

MemoryBank (research/algorithms.md §2.4) keeps a hierarchy of LLM-written texts over the raw
turns: a summary of each day's events, a global summary over the daily ones, and a portrait of
the user (personality, preferences, how to respond). This module is the §2.6 fallback for when
no LLM is configured or the call fails; ``memsvc.services.summary_llm`` tries the LLM first.

* ``daily_summary``: extractive. Every sentence of the day is a TF-IDF vector (its own
  vocabulary, idf over the day's sentences); a sentence's centrality is its cosine to the
  centroid of all of them (how much it shares the day's main vocabulary). The top sentences are
  kept in their original order, after "On YYYY-MM-DD: ".
* ``global_summary``: the daily summaries newest first, cut at a sentence boundary.
* ``portrait``: first-person statements of preference, identity, possession, habit and feeling
  found by patterns and rewritten in the third person ("I love hiking" -> "Sam loves hiking").

All functions are pure: same input, same output (ties broken by position). English only.
Quality, honestly: extraction cannot paraphrase, merge or infer; the portrait sees only what the
user states about themselves in plain first-person sentences ("I love", "my X is"), and knows
nothing of tone, and of irony or hypotheticals only the obvious cases ("if I have time").
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from memsvc.algorithms.notes import STOPWORDS
from memsvc.algorithms.sentences import split_sentences

__all__ = [
    "MIN_SENTENCE_WORDS",
    "PORTRAIT_MAX_WORDS",
    "content_tokens",
    "cut_at_sentence",
    "cut_at_word",
    "daily_summary",
    "global_summary",
    "portrait",
    "split_sentences",
    "third_person",
    "word_tokens",
]

MIN_SENTENCE_WORDS = 3
"""Sentences shorter than this ("Okay!", "Sounds good.") are trivial: chosen only when the
day has nothing else."""

PORTRAIT_MAX_WORDS = 24
"""A first-person statement whose complement is longer than this is not a crisp fact: skipped."""

# --- sentences and tokens -------------------------------------------------------------------

_BOUNDARY_RE = re.compile(r"[.!?…。！？]+[\"'”’)\]]*(?=\s|$)")
_TOKEN_RE = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'"})
_TERMINAL = ".!?…。！？"
_CLOSERS = "\"'”’)]"


def word_tokens(text: str) -> list[str]:
    """Lower-case word tokens (letters and digits, inner apostrophes kept: "don't")."""
    return _TOKEN_RE.findall(text.translate(_APOSTROPHES).lower())


def content_tokens(text: str) -> list[str]:
    """Word tokens without stopwords and single characters: what a sentence is about."""
    return [t for t in word_tokens(text) if len(t) > 1 and t not in STOPWORDS]


def _with_stop(sentence: str) -> str:
    """The sentence ending in terminal punctuation (a full stop added when it has none)."""
    body = sentence.rstrip(_CLOSERS)
    if body and body[-1] in _TERMINAL:
        return sentence
    return sentence.rstrip(" ,;:-") + "."


def cut_at_word(text: str, max_chars: int) -> str:
    """At most ``max_chars`` characters, cut at the last whitespace that fits (or, for one
    long word, inside it); trailing spaces and separators removed. No ellipsis is added."""
    if max_chars <= 0:
        return ""
    if len(text) <= max_chars:
        return text
    cut = text[: max_chars + 1]
    space = max(cut.rfind(" "), cut.rfind("\n"))
    cut = cut[:space] if space > 0 else text[:max_chars]
    return cut.rstrip(" \n\t,;:-")


def cut_at_sentence(text: str, max_chars: int) -> str:
    """At most ``max_chars`` characters, ending at the last sentence (or line) end that fits;
    ``cut_at_word`` when not even the first sentence fits."""
    if max_chars <= 0:
        return ""
    if len(text) <= max_chars:
        return text
    ends = [m.end() for m in _BOUNDARY_RE.finditer(text, 0, max_chars)]
    ends += [i for i, c in enumerate(text[: max_chars + 1]) if c == "\n"]
    fitting = [e for e in ends if 0 < e <= max_chars and text[:e].strip()]
    if fitting:
        return text[: max(fitting)].rstrip()
    return cut_at_word(text, max_chars)


# --- daily and global summaries (MemoryBank §2.6) ---------------------------------------------


def _centrality(token_lists: Sequence[Sequence[str]]) -> list[float]:
    """Cosine of each sentence's TF-IDF vector to the centroid of all of them.

    tf = 1 + ln(count), idf = ln((1 + n) / (1 + df)) + 1 (smoothed; a word in every sentence
    still counts a little), vectors L2-normalised. A sentence with no content word scores 0.
    """
    n = len(token_lists)
    df: Counter[str] = Counter()
    for tokens in token_lists:
        df.update(set(tokens))
    vectors: list[dict[str, float]] = []
    for tokens in token_lists:
        weights = {
            t: (1.0 + math.log(c)) * (math.log((1 + n) / (1 + df[t])) + 1.0)
            for t, c in Counter(tokens).items()
        }
        norm = math.sqrt(sum(w * w for w in weights.values()))
        vectors.append({t: w / norm for t, w in weights.items()} if norm else {})
    centroid: dict[str, float] = {}
    for vec in vectors:
        for t, w in vec.items():
            centroid[t] = centroid.get(t, 0.0) + w / n
    c_norm = math.sqrt(sum(w * w for w in centroid.values()))
    if not c_norm:
        return [0.0] * n
    return [sum(w * centroid[t] for t, w in vec.items()) / c_norm for vec in vectors]


def daily_summary(day: date, texts: Sequence[str], max_sentences: int = 3) -> str:
    """The day's ``max_sentences`` most central sentences, in their original order, after
    "On YYYY-MM-DD: "; "" when the day has no text.

    Repeated sentences count once (first place kept). Sentences under ``MIN_SENTENCE_WORDS``
    words are only chosen when the day has no longer one. Ties: the earlier sentence.
    """
    seen: set[str] = set()
    sentences: list[str] = []
    for text in texts:
        for sentence in split_sentences(text):
            key = " ".join(word_tokens(sentence)) or sentence
            if key not in seen:
                seen.add(key)
                sentences.append(sentence)
    if not sentences or max_sentences <= 0:
        return ""
    candidates = [i for i, s in enumerate(sentences) if len(s.split()) >= MIN_SENTENCE_WORDS]
    if not candidates:
        candidates = list(range(len(sentences)))
    scores = _centrality([content_tokens(sentences[i]) for i in candidates])
    ranked = sorted(zip(candidates, scores, strict=True), key=lambda p: (-p[1], p[0]))
    chosen = sorted(i for i, _ in ranked[:max_sentences])
    return f"On {day.isoformat()}: " + " ".join(_with_stop(sentences[i]) for i in chosen)


def global_summary(daily: Sequence[tuple[date, str]], max_chars: int = 2000) -> str:
    """The daily summaries newest first (same-day ones in the given order), one a line, cut at
    a sentence boundary to at most ``max_chars`` characters. A summary that does not start
    with its date gets the "On YYYY-MM-DD: " prefix, so every line says when."""
    lines: list[str] = []
    for day, text in sorted(daily, key=lambda p: p[0], reverse=True):
        body = " ".join(text.split())
        if not body:
            continue
        prefix = f"On {day.isoformat()}"
        lines.append(body if body.startswith(prefix) else f"{prefix}: {body}")
    return cut_at_sentence("\n".join(lines), max_chars)


# --- portrait -------------------------------------------------------------------------------

_CLAUSE_END_RE = re.compile(
    r"\s*(?:[;:!?()\[\]—–]|\s-\s|\.(?:\s|$)|,?\s+(?:but|although|though|whereas|while|"
    r"and\s+i|and\s+my|so\s+i)\b|,\s+(?:i|my)\b)",
    re.IGNORECASE,
)
# "I" ... must not follow one of these: the statement is hypothetical, a question or a wish.
_NOT_AFTER = frozenset(
    "if when whenever unless whether wish hope what where how why do does did can could would "
    "should suppose imagine".split()
)
_POINTLESS_OBJECT = frozenset(
    "it that this these those them you your yours him her what how which who when where so "
    "too".split()
)
_SOFTENERS = r"(?:(?:really|truly|absolutely|totally|honestly|also|still|just|actually|do|"
_SOFTENERS += r"kind\s+of|kinda|definitely|especially|generally|now)\s+)*"
_FREQUENCY = r"(?:(?:always|usually|often|sometimes|normally|typically|generally)\s+)?"
_PREFERENCE_VERBS = frozenset("like love enjoy prefer hate dislike adore detest feel".split())

_PREFERENCE_RE = re.compile(
    rf"\bi\s+{_FREQUENCY}{_SOFTENERS}(?P<neg>(?:don't|do\s+not|dont|never)\s+(?:really\s+)?)?"
    r"(?P<verb>like|love|enjoy|prefer|hate|dislike|adore|detest)\s+(?=(?P<rest>\S.*))",
    re.IGNORECASE,
)
_IDENTITY_RE = re.compile(
    rf"\bi(?:\s+am|\s*'m|m)\s+{_SOFTENERS}(?P<neg>not\s+)?(?=(?P<rest>\S.*))", re.IGNORECASE
)
_ATTRIBUTE_RE = re.compile(
    r"\bmy\s+(?P<attr>[^\W\d_][\w'-]*(?:\s+[^\W\d_][\w'-]*){0,3}?)\s+"
    r"(?P<be>is|are|was|were|'s)\s+(?=(?P<rest>\S.*))",
    re.IGNORECASE,
)
_POSSESSION_RE = re.compile(
    rf"\bi\s+{_SOFTENERS}(?P<neg>(?:don't|do\s+not|dont)\s+)?"
    r"(?P<verb>have\s+got|have|own)\s+(?=(?P<rest>\S.*))"
    r"|\bi(?:'ve|\s+have)\s+got\s+(?=(?P<rest2>\S.*))",
    re.IGNORECASE,
)
_HABIT_RE = re.compile(
    r"\bi\s+(?P<freq>usually|always|often|normally|typically|generally|never|rarely|seldom|"
    r"sometimes|regularly|frequently)\s+(?P<verb>[a-z]+)(?=[\s,.;!]|$)(?=(?P<rest>.*))",
    re.IGNORECASE,
)
_FEELING_RE = re.compile(
    rf"\bi\s+{_FREQUENCY}{_SOFTENERS}(?P<verb>feel)\s+(?=(?P<rest>\S.*))"
    rf"|\bi(?:\s+am|\s*'m)\s+{_SOFTENERS}feeling\s+(?=(?P<rest2>\S.*))",
    re.IGNORECASE,
)

_THIRD_PERSON = {
    "like": "likes",
    "love": "loves",
    "enjoy": "enjoys",
    "prefer": "prefers",
    "hate": "hates",
    "dislike": "dislikes",
    "adore": "adores",
    "detest": "detests",
    "have": "has",
    "own": "owns",
    "do": "does",
    "go": "goes",
    "am": "is",
    "be": "is",
    "was": "was",
    "can": "can",
    "will": "will",
    "would": "would",
    "could": "could",
    "should": "should",
    "must": "must",
    "might": "might",
    "may": "may",
}
# Past forms that a habit adverb may precede ("I never thought"): kept as they are.
_IRREGULAR_PAST = frozenset(
    "was were had did went got made thought took saw came knew felt left told found gave "
    "bought ate drank ran wrote said".split()
)
# What follows "I am" in chat far more often than an identity.
_IDENTITY_SKIP = frozenset(
    "sure sorry going gonna about trying thinking wondering looking here back done so afraid "
    "glad not".split()
)
# What follows "I have" when it is the perfect tense or a chat phrase, not a possession.
_POSSESSION_SKIP = frozenset(
    "to been no never always just already had got done seen made taken tried heard read "
    "noticed an idea any".split()
)
_FIRST_PERSON = {
    "i": "they",
    "me": "them",
    "my": "their",
    "mine": "theirs",
    "myself": "themselves",
    "i'm": "they're",
    "im": "they're",
    "i've": "they've",
    "i'd": "they'd",
    "i'll": "they'll",
}
_FIRST_PERSON_RE = re.compile(r"\b(?:i'm|i've|i'd|i'll|im|i|me|my|mine|myself)\b", re.IGNORECASE)
_ARTICLES = frozenset({"a", "an", "the", "some", "my", "their"})
_TRAILING_FILLERS = frozenset(
    "now anymore today too also lately nowadays though either much lot so very really days "
    "these".split()
)
_AGE_RE = re.compile(r"^\d{1,3}(?:\s*(?:years?|yrs?)(?:\s+old)?|\s*y/?o)?$", re.IGNORECASE)


@dataclass(frozen=True)
class _Statement:
    start: int  # position of the match in its sentence (statements apply in this order)
    key: tuple[str, ...]  # a later statement with the same key replaces an earlier one
    text: str


def third_person(verb: str) -> str:
    """A verb in the third person singular present ("go" -> "goes", "try" -> "tries")."""
    low = verb.lower()
    if low in _THIRD_PERSON:
        return _THIRD_PERSON[low]
    if low in _IRREGULAR_PAST or low.endswith("ed"):
        return verb
    if low.endswith(("s", "sh", "ch", "x", "z", "o")):
        return verb + "es"
    if len(low) > 1 and low.endswith("y") and low[-2] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def _third_person_pronouns(text: str) -> str:
    return _FIRST_PERSON_RE.sub(lambda m: _FIRST_PERSON[m.group(0).lower()], text)


def _complement(rest: str) -> str:
    """The statement's complement: up to the end of its clause, in the third person."""
    m = _CLAUSE_END_RE.search(rest)
    body = rest[: m.start()] if m else rest
    body = body.strip(" ,;:.\"'”’“‘")
    return _third_person_pronouns(body)


def _norm(text: str) -> str:
    """A statement's key text: lower-case words, articles and trailing fillers ("now", "so
    much", "anymore") dropped, so "I hate tea now" replaces "I love tea"."""
    words = [t for t in word_tokens(text) if t not in _ARTICLES]
    while len(words) > 1 and words[-1] in _TRAILING_FILLERS:
        words.pop()
    return " ".join(words)


def _usable(complement: str) -> bool:
    words = word_tokens(complement)
    return 0 < len(words) <= PORTRAIT_MAX_WORDS and words[0] not in _POINTLESS_OBJECT


def _preceded_by_blocker(sentence: str, start: int) -> bool:
    before = word_tokens(sentence[:start])
    return bool(before) and before[-1] in _NOT_AFTER


def _statements(user: str, sentence: str) -> list[_Statement]:
    out: list[_Statement] = []

    def add(start: int, key: tuple[str, ...], text: str, subject: str = user) -> None:
        if not _preceded_by_blocker(sentence, start):
            out.append(_Statement(start, key, f"{subject} {text}."))

    for m in _PREFERENCE_RE.finditer(sentence):
        obj = _complement(m["rest"])
        if _usable(obj):
            verb = m["verb"].lower()
            says = f"does not {verb}" if m["neg"] else third_person(verb)
            add(m.start(), ("preference", _norm(obj)), f"{says} {obj}")
    for m in _FEELING_RE.finditer(sentence):
        rest = m["rest"] if m["rest"] is not None else m["rest2"]
        obj = _complement(rest)
        if _usable(obj):
            says = "feels" if m["verb"] else "is feeling"
            add(m.start(), ("feeling",), f"{says} {obj}")
    for m in _IDENTITY_RE.finditer(sentence):
        obj = _complement(m["rest"])
        first = (word_tokens(obj) or [""])[0]
        if not _usable(obj) or first in _IDENTITY_SKIP or first.endswith("ing"):
            continue
        key = ("age",) if _AGE_RE.match(obj) else ("identity", _norm(obj))
        add(m.start(), key, f"is {'not ' if m['neg'] else ''}{obj}")
    for m in _ATTRIBUTE_RE.finditer(sentence):
        obj = _complement(m["rest"])
        if _usable(obj):
            be = "is" if m["be"].lower() == "'s" else m["be"].lower()
            attr = " ".join(m["attr"].split())
            add(m.start(), ("attribute", _norm(attr)), f"{be} {obj}", subject=f"{user}'s {attr}")
    for m in _POSSESSION_RE.finditer(sentence):
        rest = m["rest"] if m["rest"] is not None else m["rest2"]
        obj = _complement(rest)
        first = (word_tokens(obj) or [""])[0]
        if not _usable(obj) or first in _POSSESSION_SKIP or first.endswith("ed"):
            continue
        verb = "own" if (m["verb"] or "").lower() == "own" else "have"
        says = f"does not {verb}" if m["neg"] else third_person(verb)
        add(m.start(), ("possession", _norm(obj)), f"{says} {obj}")
    for m in _HABIT_RE.finditer(sentence):
        verb = m["verb"]
        rest = _complement(verb + m["rest"])[len(verb) :].strip()
        if verb.lower() in _PREFERENCE_VERBS:
            continue  # "I always love ...", "I never like ...": a preference (above)
        phrase = f"{third_person(verb)} {rest}".strip()
        if len(word_tokens(phrase)) > PORTRAIT_MAX_WORDS:
            continue
        add(m.start(), ("habit", _norm(f"{verb} {rest}")), f"{m['freq'].lower()} {phrase}")
    return sorted(out, key=lambda s: s.start)


def portrait(user: str, texts: Sequence[str], max_items: int = 12) -> str:
    """An extractive portrait of ``user``: the first-person statements of preference ("I
    love/like/prefer/hate ..."), identity ("I am ...", "I'm ..."), attribute ("my X is ..."),
    possession ("I have/own ..."), habit ("I usually/always/never ...") and feeling ("I feel
    ...") in ``texts``, rewritten in the third person with ``user`` as the subject, one a line.

    ``texts`` are taken as oldest first. Statements are keyed (a preference by its object, an
    attribute by its name, an age, a feeling, a habit by its verb phrase, ...): a later
    statement with the same key replaces the earlier one ("I love tea" then "I hate tea" keeps
    "hates"), and the list is ordered by when each statement was last made; the newest
    ``max_items`` are kept. Questions are skipped; "" when nothing is found.
    """
    label = " ".join(user.split()) or "The user"
    if max_items <= 0:
        return ""
    found: dict[tuple[str, ...], str] = {}
    for text in texts:
        for sentence in split_sentences(text.translate(_APOSTROPHES)):
            if sentence.rstrip(_CLOSERS).endswith("?"):
                continue
            for statement in _statements(label, sentence):
                found.pop(statement.key, None)  # re-inserted last: most recent
                found[statement.key] = statement.text
    return "\n".join(list(found.values())[-max_items:])
