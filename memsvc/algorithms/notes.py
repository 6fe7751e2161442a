"""Deterministic (no-LLM) A-MEM note builder: keywords, tags, context, link and evolution rules.

A-MEM (research/algorithms.md §1) asks an LLM to turn each memory into a note
{keywords, tags, context} (§1.2), embeds ``content , context keywords tags`` (§1.3), lets the
LLM pick links among the top-k neighbours and rewrite their tags/context (§1.4). This module is
the §1.7 fallback for when no LLM is configured or the call fails. Everything here is a pure
function of its arguments: same input, same output (no randomness, no set-order dependence,
ties broken by position and then by text). Callers should record provenance
``created_by="heuristic"`` (§6) so the notes can be rebuilt by an LLM later.

Keyphrases come from a from-scratch YAKE-style extractor (Campos et al. 2020): candidate 1-3
word n-grams that neither start nor end with a stopword, each word scored from casing, position
of the sentences it occurs in, normalised frequency, relatedness to its left/right context and
spread over sentences; a phrase's score combines its words' scores and its own frequency.
Lower score is better.

Quality, honestly (vs an LLM note):

* Gets right: frequent, specific and capitalised terms (names of things, products, places,
  acronyms), multi-word terms that recur verbatim ("olive oil", "release date"), and it is
  fast (linear in the text; 100 KB well under a second), language-agnostic in its statistics
  and fully reproducible.
* Gets wrong: it has no semantics. It cannot paraphrase or generalise (a text about a puppy
  never gets the keyword "pet"; "broad categories" are only frequent words of the text), cannot
  tell a speaker name or greeting from a topic (the §1.2 prompt excludes speaker names and
  times; we only drop pure numbers, dates and clock times), cannot tell nouns from verbs
  beyond the stopword list, and on very short texts (a chat turn) the statistics are near
  uniform so ranking falls back mostly to position and casing. Casing heuristics miss a name
  that only ever appears at the start of a sentence (it is lowercased) and keep case for a
  capitalised common word used mid-sentence in a title. The context line is the first
  sentence (extractive), not a summary of topic, argument and audience as §1.2 asks; when the
  first sentence is unusable it is a bare list of keyphrases. Stopwords are English only:
  other languages get statistics without a stopword filter (phrases may start with function
  words). Tags and neighbour evolution (§1.7 rule) only ever add words; they never rename or
  merge concepts the way an LLM would.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from memsvc.algorithms.sentences import split_sentences

__all__ = [
    "CONTEXT_MAX_CHARS",
    "CONTEXT_MIN_WORDS",
    "EVOLVE_THRESHOLD",
    "KEYWORD_LINK_MARGIN",
    "KEYWORD_LINK_MIN_SHARED",
    "LINK_THRESHOLD",
    "LINK_TOP_K",
    "MAX_TAGS",
    "NOTE_KEYWORDS",
    "STOPWORDS",
    "Note",
    "evolve_tags",
    "extract_keyphrases",
    "note_for",
    "note_text",
    "should_evolve",
    "should_link",
]

# --- constants ------------------------------------------------------------------------------

NOTE_KEYWORDS = 5
"""Keywords per note: §1.7 item 1 suggests the top 5 (the §1.2 prompt asks for at least 3)."""

TAGS_FROM_CONTENT = 3
"""At most this many tags are derived from the content itself (§1.7 item 2: "top 3")."""

MAX_TAGS = 8
"""Cap on a note's tags after merging with existing ones, and on an evolved neighbour's tags."""

CONTEXT_MAX_CHARS = 160
"""The context line is at most this long (§1.7 item 3 says about 200; we keep one short line)."""

CONTEXT_MIN_WORDS = 4
"""A first sentence shorter than this is too thin to describe the note ("Sounds good.")."""

DEFAULT_CONTEXT = "General"
"""The A-MEM code's default context (§1.1), used when the content has nothing to say."""

LINK_TOP_K = 5
"""Neighbours considered for links and evolution: the A-MEM code's k = 5 (§1.4, §1.7 item 4)."""

LINK_THRESHOLD = 0.6
"""Link a neighbour whose cosine is at least this (§1.7 item 4: τ = 0.6 on all-MiniLM-L6-v2)."""

KEYWORD_LINK_MIN_SHARED = 2
KEYWORD_LINK_MARGIN = 0.1
"""Our addition to §1.7: a neighbour sharing at least ``KEYWORD_LINK_MIN_SHARED`` keywords is
linked at a cosine ``KEYWORD_LINK_MARGIN`` below the threshold (lexical overlap is independent
evidence of relatedness that the embedding may under-weight)."""

EVOLVE_THRESHOLD = 0.8
"""Evolve (add the new note's tags to) a neighbour only at cosine ≥ 0.8 (§1.7 item 5)."""

# Compact English stopword list: function words, pronouns, auxiliaries, very common light verbs
# and discourse words. Lowercase; apostrophes in both ASCII and typographic form are normalised
# to ASCII before lookup.
STOPWORDS: frozenset[str] = frozenset(
    """
    a about above across after afterwards again against all almost alone along already also
    although always am among amongst an and another any anybody anyhow anyone anything anyway
    anywhere are around as at away back be became because become becomes becoming been before
    beforehand behind being below beside besides between beyond both but by can cannot could
    did do does doing done down during each either else elsewhere enough etc even ever every
    everybody everyone everything everywhere except few for from further furthermore get gets
    getting give given gives go goes going gone got gotten had has have having he hence her here
    hereby herein hers herself him himself his how however i if in indeed instead into is it its
    itself just keep kept last latter least less let lets like likely made make makes many may
    maybe me meanwhile might mine more moreover most mostly much must my myself namely neither
    never nevertheless next no nobody none noone nor not nothing now nowhere of off often oh ok
    okay on once one only onto or other others otherwise our ours ourselves out over own per
    perhaps please put quite rather re really said same say says see seem seemed seeming seems
    seen several shall she should since so some somebody somehow someone something sometime
    sometimes somewhere still such sure take taken than thank thanks that the their theirs them
    themselves then thence there thereafter thereby therefore therein these they thing things
    think this those though through throughout thru thus to together too toward towards under
    until up upon us use used uses using very via was way we well were what whatever when
    whence whenever where whereas whereby wherever whether which while who whoever whole whom
    whose why will with within without would yeah yes yet you your yours yourself yourselves
    i'm i've i'd i'll you're you've you'd you'll he's she's it's we're we've we'd we'll they're
    they've they'd they'll that's there's here's what's who's let's can't cannot couldn't
    didn't doesn't don't hadn't hasn't haven't isn't aren't wasn't weren't won't wouldn't
    shouldn't mustn't also new want wants wanted need needs needed know knew known go went
    come came comes coming lot lots bit kind sort able around via
    """.split()
)

_WORD_RE = re.compile(r"\w+(?:['’\-.]\w+)*|[^\w\s]")
_NUMERIC_RE = re.compile(r"[\d.,:/\-]*\d[\d.,:/\-]*")
_POSSESSIVE_RE = re.compile(r"['’]s$", re.IGNORECASE)
_SPACE_RE = re.compile(r"\s+")


# --- data model -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Note:
    """The LLM-derived part of an A-MEM note (§1.1: K_i keywords, G_i tags, X_i context)."""

    keywords: tuple[str, ...]
    tags: tuple[str, ...]
    context: str


# --- text splitting -------------------------------------------------------------------------


def _normalise_token(token: str) -> str:
    """Surface form of a word token: possessive 's dropped (Alice's -> Alice)."""
    stripped = _POSSESSIVE_RE.sub("", token)
    return stripped or token


def _key(token: str) -> str:
    return token.lower().replace("’", "'")


def _is_numeric(token: str) -> bool:
    """Numbers, dates and clock times (2024, 3.5, 10:30, 2024-05-01): never keyphrase words."""
    return _NUMERIC_RE.fullmatch(token) is not None


# --- YAKE-style statistics ------------------------------------------------------------------


@dataclass
class _Term:
    tf: int = 0
    tf_acronym: int = 0  # ALL-CAPS occurrences (len > 1)
    tf_capital: int = 0  # Capitalised occurrences not at sentence start
    tf_lower_mid: int = 0  # lowercase occurrences not at sentence start
    first_pos: int = 0
    stop: bool = False
    score: float = 0.0
    sentences: list[int] | None = None
    surfaces: Counter[str] | None = None

    @property
    def proper(self) -> bool:
        """Looks like a proper noun or acronym: capitalised mid-sentence more than not."""
        return (self.tf_acronym + self.tf_capital) > self.tf_lower_mid

    def surface(self) -> str:
        """Most frequent capitalised surface form (ties: first seen), else the lowercase key."""
        surfaces = self.surfaces
        assert surfaces is not None
        return max(surfaces, key=surfaces.__getitem__)  # max() keeps the first of equals


@dataclass
class _Candidate:
    keys: tuple[str, ...]
    tf: int
    first_pos: int
    score: float = 0.0


class _Analysis:
    """Term and candidate statistics of one text (the YAKE pipeline, computed once)."""

    def __init__(self, text: str) -> None:
        self.terms: dict[str, _Term] = {}
        self.edges: dict[tuple[str, str], int] = {}
        self.candidates: dict[tuple[str, ...], _Candidate] = {}
        self.n_sentences = 0
        chunks: list[list[str]] = []  # chunks of term keys, split at punctuation/numbers
        pos = 0
        for s_idx, sentence in enumerate(split_sentences(text)):
            self.n_sentences += 1
            chunk: list[str] = []
            first_in_sentence = True
            for raw in _WORD_RE.findall(sentence):
                if not (raw[0].isalnum() or raw[0] == "_") or _is_numeric(raw):
                    if chunk:
                        chunks.append(chunk)
                        chunk = []
                    first_in_sentence = False
                    continue
                token = _normalise_token(raw)
                key = _key(token)
                term = self.terms.get(key)
                if term is None:
                    term = _Term(first_pos=pos, sentences=[], surfaces=Counter())
                    self.terms[key] = term
                term.tf += 1
                assert term.sentences is not None and term.surfaces is not None
                if not term.sentences or term.sentences[-1] != s_idx:
                    term.sentences.append(s_idx)
                if len(token) > 1 and token.isupper():
                    term.tf_acronym += 1
                    term.surfaces[token] += 1
                elif token[0].isupper():
                    if not first_in_sentence:
                        term.tf_capital += 1
                        term.surfaces[token] += 1
                elif not first_in_sentence and token[0].islower():
                    term.tf_lower_mid += 1
                if chunk:
                    edge = (chunk[-1], key)
                    self.edges[edge] = self.edges.get(edge, 0) + 1
                chunk.append(key)
                first_in_sentence = False
                pos += 1
            if chunk:
                chunks.append(chunk)
        self._score_terms()
        self._collect_candidates(chunks)

    def _score_terms(self) -> None:
        for key, term in self.terms.items():
            term.stop = key in STOPWORDS or (len(key) < 3 and term.tf_acronym == 0)
        if not self.terms:
            return
        valid_tfs = [t.tf for t in self.terms.values() if not t.stop]
        if not valid_tfs:
            return
        mean_tf = statistics.fmean(valid_tfs)
        std_tf = statistics.pstdev(valid_tfs)
        max_tf = max(t.tf for t in self.terms.values())
        # Left/right context diversity: distinct neighbours / all co-occurrences (window 1).
        left_distinct: Counter[str] = Counter()
        left_total: Counter[str] = Counter()
        right_distinct: Counter[str] = Counter()
        right_total: Counter[str] = Counter()
        for (a, b), n in self.edges.items():
            right_distinct[a] += 1
            right_total[a] += n
            left_distinct[b] += 1
            left_total[b] += n
        n_sent = max(self.n_sentences, 1)
        for key, term in self.terms.items():
            assert term.sentences is not None
            t_case = max(term.tf_acronym, term.tf_capital) / (1.0 + math.log(term.tf))
            t_pos = math.log(math.log(3.0 + statistics.median(term.sentences)))
            t_freq = term.tf / (mean_tf + std_tf)
            pl = left_distinct[key] / left_total[key] if left_total[key] else 0.0
            pr = right_distinct[key] / right_total[key] if right_total[key] else 0.0
            ratio = term.tf / max_tf
            t_rel = (0.5 + pl * ratio) + (0.5 + pr * ratio)
            t_spread = len(term.sentences) / n_sent
            term.score = (t_pos * t_rel) / (t_case + t_freq / t_rel + t_spread / t_rel)

    def _collect_candidates(self, chunks: list[list[str]]) -> None:
        terms = self.terms
        inner: set[tuple[str, ...]] = set()
        pos = 0
        for chunk in chunks:
            for i in range(len(chunk)):
                for n in (1, 2, 3):
                    if i + n > len(chunk):
                        break
                    keys = tuple(chunk[i : i + n])
                    if terms[keys[0]].stop or terms[keys[-1]].stop or len(set(keys)) < n:
                        continue  # stopword at an edge, or a stutter ("very very good")
                    inner_stop = any(terms[k].stop for k in keys[1:-1])
                    if inner_stop and not (terms[keys[0]].proper and terms[keys[-1]].proper):
                        # "bank of america" stays; "pot of salted" only if it recurs (below).
                        inner.add(keys)
                    cand = self.candidates.get(keys)
                    if cand is None:
                        self.candidates[keys] = _Candidate(keys, 1, pos + i)
                    else:
                        cand.tf += 1
            pos += len(chunk)
        for keys in inner:
            if self.candidates[keys].tf < 2:
                del self.candidates[keys]
        for cand in self.candidates.values():
            cand.score = self._phrase_score(cand)

    def _phrase_score(self, cand: _Candidate) -> float:
        prod = 1.0
        total = 0.0
        keys = cand.keys
        for i, key in enumerate(keys):
            term = self.terms[key]
            if not term.stop:
                prod *= term.score
                total += term.score
                continue
            # A stopword inside a phrase: penalise unless the words around it habitually
            # co-occur with it ("bank of america"), as YAKE's bigram-probability rule does.
            prev, nxt = keys[i - 1], keys[i + 1]
            p1 = self.edges.get((prev, key), 0) / self.terms[prev].tf
            p2 = self.edges.get((key, nxt), 0) / self.terms[nxt].tf
            prob = p1 * p2
            prod *= 1.0 + (1.0 - prob)
            total -= 1.0 - prob
        return prod / (max(total + 1.0, 1e-9) * cand.tf)

    def surface(self, keys: tuple[str, ...]) -> str:
        """A phrase as shown: proper-noun-looking words keep their case, the rest lowercase."""
        words = []
        for key in keys:
            term = self.terms[key]
            assert term.surfaces is not None
            words.append(term.surface() if term.proper and term.surfaces else key)
        return " ".join(words)

    def ranked(self, max_phrases: int) -> list[str]:
        ordered = sorted(
            self.candidates.values(), key=lambda c: (c.score, c.first_pos, len(c.keys), c.keys)
        )
        kept: list[tuple[str, ...]] = []
        for cand in ordered:
            if len(kept) >= max_phrases:
                break
            if any(self._redundant(cand.keys, better) for better in kept):
                continue
            kept.append(cand.keys)
        return [self.surface(keys) for keys in kept]

    def _redundant(self, keys: tuple[str, ...], better: tuple[str, ...]) -> bool:
        """Contained word-wise in a better phrase, or sharing over half its content words."""
        if _contains(better, keys):
            return True
        own = [k for k in keys if not self.terms[k].stop]
        shared = sum(1 for k in own if k in better)
        return len(own) > 1 and shared * 2 > len(own)


def _contains(longer: tuple[str, ...], shorter: tuple[str, ...]) -> bool:
    n = len(shorter)
    return any(longer[i : i + n] == shorter for i in range(len(longer) - n + 1))


# --- public API -----------------------------------------------------------------------------


def extract_keyphrases(text: str, *, max_phrases: int = 8) -> list[str]:
    """Up to ``max_phrases`` keyphrases of ``text``, best first (YAKE-style, see module doc).

    Phrases are 1-3 words, never start or end with a stopword, never contain numbers, dates or
    clock times or a repeated word. A phrase with a stopword inside ("pot of water") must occur
    at least twice unless both its outer words look like proper nouns ("Bank of America").
    A phrase contained (word-wise, case-insensitively) in a better-ranked one is dropped, and so
    is a multi-word phrase sharing more than half of its content words with a better one.
    Words are lowercased except proper-noun-looking ones (capitalised or all-caps mid-sentence
    more often than not), which keep their most common capitalised form.
    """
    if max_phrases <= 0 or not text or text.isspace():
        return []
    return _Analysis(text).ranked(max_phrases)


def _tags_from(analysis: _Analysis, limit: int) -> list[str]:
    """Broad single-word tags: the most frequent content unigrams, then the longest.

    Common-noun-looking words are preferred over proper-noun-looking ones (names are rarely
    categories); the latter only fill remaining slots. Noun-ish filter, English only and
    crude: single alphabetic words of 3+ letters, not adverbs in -ly, not past forms in -ed of
    6+ letters ("adopted"). Ties in frequency go to the longer word, then the better YAKE word.
    """
    pool = []
    for key, term in analysis.terms.items():
        if term.stop or len(key) < 3 or not key.isalpha() or key.endswith("ly"):
            continue
        if len(key) >= 6 and key.endswith("ed"):
            continue
        pool.append((term.proper, -term.tf, -min(len(key), 8), term.score, term.first_pos, key))
    pool.sort()
    return [entry[-1] for entry in pool[:limit]]


def _merge(first: Iterable[str], then: Iterable[str], cap: int) -> tuple[str, ...]:
    """Order-preserving, case-insensitive union of two tag lists, blank tags dropped, capped."""
    out: list[str] = []
    seen: set[str] = set()
    for tag in (*first, *then):
        tag = _SPACE_RE.sub(" ", tag).strip()
        low = tag.lower()
        if not tag or low in seen:
            continue
        seen.add(low)
        out.append(tag)
        if len(out) >= cap:
            break
    return tuple(out)


def _about(phrases: Sequence[str]) -> str:
    """ "About a, b and c", shortened phrase by phrase to fit ``CONTEXT_MAX_CHARS``."""
    for n in range(min(3, len(phrases)), 0, -1):
        head = list(phrases[:n])
        body = head[0] if n == 1 else ", ".join(head[:-1]) + " and " + head[-1]
        line = "About " + body
        if len(line) <= CONTEXT_MAX_CHARS:
            return line
    return clip("About " + phrases[0])


def clip(line: str, limit: int = CONTEXT_MAX_CHARS) -> str:
    """At most ``limit`` characters, cut at a word boundary when one is near, with "…"."""
    if len(line) <= limit:
        return line
    cut = line[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-") + "…"


def _context(content: str, keyphrases: Sequence[str]) -> str:
    sentences = split_sentences(content)
    first = _SPACE_RE.sub(" ", sentences[0]).strip() if sentences else ""
    if first and len(first) <= CONTEXT_MAX_CHARS and len(first.split()) >= CONTEXT_MIN_WORDS:
        return first
    if keyphrases:
        return _about(keyphrases)
    if first:
        return clip(first)
    return DEFAULT_CONTEXT


def note_for(content: str, *, existing_tags: Sequence[str] = ()) -> Note:
    """Build the note fields for ``content`` without an LLM (§1.7 items 1-3).

    * keywords: the top ``NOTE_KEYWORDS`` keyphrases.
    * tags: ``existing_tags`` first (kept as given, blanks dropped), then up to
      ``TAGS_FROM_CONTENT`` lowercase words from the content, case-insensitively de-duplicated
      and capped at ``MAX_TAGS``. Empty content contributes no tags.
    * context: the first sentence if it has at least ``CONTEXT_MIN_WORDS`` words and at most
      ``CONTEXT_MAX_CHARS`` characters; otherwise "About <top keyphrases>"; otherwise the first
      sentence clipped; ``"General"`` (the A-MEM default) for empty content.
    """
    if not content or content.isspace():
        return Note(keywords=(), tags=_merge(existing_tags, (), MAX_TAGS), context=DEFAULT_CONTEXT)
    analysis = _Analysis(content)
    keyphrases = analysis.ranked(NOTE_KEYWORDS)
    tags = _merge(existing_tags, _tags_from(analysis, TAGS_FROM_CONTENT), MAX_TAGS)
    return Note(keywords=tuple(keyphrases), tags=tags, context=_context(content, keyphrases))


def note_text(content: str, note: Note) -> str:
    """The text to embed for a note: content, context, keywords, tags (§1.3 suggested form)."""
    return f"{content} , {note.context} {' '.join(note.keywords)} {' '.join(note.tags)}"


def should_link(
    similarity: float,
    shared_keywords: int,
    *,
    threshold: float = LINK_THRESHOLD,
) -> bool:
    """Link the new note to a neighbour (one of the top ``LINK_TOP_K`` by cosine)?

    §1.7 item 4: link when cosine ≥ ``threshold`` (τ = 0.6 for all-MiniLM-L6-v2; re-tune it for
    another embedding model). Our addition: a neighbour sharing at least
    ``KEYWORD_LINK_MIN_SHARED`` keywords is linked from ``threshold - KEYWORD_LINK_MARGIN``.
    A NaN similarity never links.
    """
    if math.isnan(similarity):
        return False
    if similarity >= threshold:
        return True
    return (
        shared_keywords >= KEYWORD_LINK_MIN_SHARED and similarity >= threshold - KEYWORD_LINK_MARGIN
    )


def should_evolve(similarity: float, *, threshold: float = EVOLVE_THRESHOLD) -> bool:
    """Evolve a neighbour with the new note's tags? §1.7 item 5: only at cosine ≥ 0.8."""
    return not math.isnan(similarity) and similarity >= threshold


def evolve_tags(
    neighbour_tags: Sequence[str],
    new_note_tags: Sequence[str],
    *,
    max_tags: int = MAX_TAGS,
) -> tuple[str, ...]:
    """A neighbour's tags after heuristic evolution (§1.7 item 5; gate it with should_evolve).

    The neighbour keeps all its own tags, in order (evolution never removes what it had, even
    beyond ``max_tags``); the new note's tags not already present (case-insensitively) are
    appended while the total is below ``max_tags``. Callers mark the neighbour
    ``evolved_by="heuristic"`` and re-embed it (§1.5 suggestion) when the result differs.
    """
    own = _merge(neighbour_tags, (), max(len(neighbour_tags), 1))
    return _merge(own, new_note_tags, max(max_tags, len(own)))
