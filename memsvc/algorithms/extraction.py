"""Deterministic (no-LLM) entity and triple extraction for the HippoRAG graph.

HippoRAG builds its graph offline from an LLM: passage NER, then NER-conditioned OpenIE
triples ``[subject, relation, object]``; the phrase nodes are the normalised subjects and
objects, relations are edge labels, and synonym edges come later from embedding similarity
(research/algorithms.md §4.1). This module is the §4.4 deterministic fallback, with the
spaCy parser replaced by a few regular expressions and word lists (stdlib only), so it runs
everywhere, costs microseconds and always gives the same answer for the same text.

What ``extract`` finds, sentence by sentence:

* **Named entities**: runs of capitalised words ("Alice", "New York City", "Bank of
  America"; the connectors of/the/de/van/von/... may sit inside a run), and acronyms
  ("NASA", "U.S."). A capitalised function word ("The", "I", "We", "It", "May" as a modal)
  is never an entity; a sentence-initial word is taken as an ordinary lower-case word when it
  is a common verb ("Loved it"), a common adjective or adverb standing alone, an -ing/-ly
  word standing alone, or a word the same text also uses in lower case.
* **Concept entities**: keyphrases, i.e. maximal runs of 1-3 lower-case words that are
  neither function words nor very common verbs/adjectives, with obvious participles and
  adverbs (-ed/-ly) trimmed from the edges ("golden retriever", "pottery class").
* **Attributes, not entities**: numbers (with a unit word or currency sign when one is
  adjacent: "3 km", "$20", "50%"), years, ordinals, and month and weekday names. They are
  returned in ``Extraction.attributes`` but never become graph nodes: dates and quantities
  are shared by unrelated memories and would become hubs; time is handled by ``timeexpr``.
* **Speaker**: a ``"Name: text"`` line prefix (chat transcript convention) or the
  ``speaker=`` argument makes the speaker an entity, and "I"/"me"/"my" in that line resolve
  to it. Role labels ("user:", "assistant:") and headings ("Note:") are stripped but are
  *not* entities: a node on every memory would be a hub that connects everything.

Triples (subject and object are always node keys from ``entities``):

1. Pattern relations, tried first: ``X is/was [a] Y``, ``X has/had Y``, ``X likes/loves/
   hates/enjoys Y``, ``X works at/for Y``, ``X lives in Y``, ``X moved to Y``, ``X went to
   Y``, ``X visited Y``, ``X's Y`` and ``my Y`` (-> ``(X, has, Y)``). The relation keeps the
   verb's tense ("likes"/"liked"); a negation between subject and object ("doesn't",
   "never", "not") prefixes it with ``"not "``.
2. Co-occurrence: the speaker ``co_occurs_with`` every entity it mentions, then every pair of
   entities in one sentence (first 6 mentions of a sentence) that no pattern already links.

Triples are deduplicated (co-occurrence is symmetric: ``(a, co_occurs_with, b)`` and
``(b, co_occurs_with, a)`` are one triple), self-loops are dropped, and the list is capped
(``max_triples``, default 20; patterns first, then speaker links, then pairs in text
order). Entities are capped too (``max_entities``, default 64, speaker first, then first
appearance).

Quality, honestly, against LLM OpenIE:

* No coreference: "she", "he", "they", "it" are never resolved; only "I/me/my" to a known
  speaker. LLM OpenIE is told to "clearly resolve pronouns".
* No parser: relations other than the few patterns are just ``co_occurs_with``, so most
  edges say "mentioned together", not how. Patterns need the subject right before the verb
  (apart from adverbs and auxiliaries) and break on commas, relative clauses and passives
  ("Bob was hired by Acme" gives no ``works at``).
* Capitalisation is the whole of NER: all-lower-case chat ("i met sam in paris") yields
  concepts, not names (the node keys are the same, since keys are case-folded, but
  multiword names split into separate keyphrases); SHOUTED or Title Case sentences are
  treated as lower case. Names that are also months or common words ("May", "April",
  "Will" at a sentence start, "Bill") are misread; sentence-initial names also used in
  lower case elsewhere in the text are lost.
* Keyphrases are word runs, not noun phrases: a verb missing from the word lists can lead or
  end a phrase ("bake bread"); no lemmatising, so "dog" and "dogs" are different nodes
  until the synonym edges join them.
* English only; the word lists are general English, not tuned to any data set.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "CO_OCCURS",
    "Extraction",
    "Triple",
    "extract",
    "node_specificity",
    "normalise_entity",
]

CO_OCCURS = "co_occurs_with"


@dataclass(frozen=True)
class Triple:
    subject: str
    relation: str
    object: str


@dataclass(frozen=True)
class Extraction:
    """Entity node keys (first appearance order), triples over them, and attributes.

    ``attributes`` holds the surface forms of numbers, quantities, years, months and
    weekdays: kept for the caller, never graph nodes.
    """

    entities: tuple[str, ...]
    triples: tuple[Triple, ...]
    attributes: tuple[str, ...] = field(default=())


# ---------------------------------------------------------------------------------------------
# Word lists (general English)

_ARTICLES = frozenset({"the", "a", "an"})

_FUNCTION = frozenset(
    """
    a an the and or but nor so yet if then else than because as of at by for with about
    against between into through during before after above below to from up down in out on
    off over under again further once here there when where why how all any both each few
    more most other some such no not only own same too very just can will would should could
    might must may shall ought am is are was were be been being have has had having do does
    did doing done i me my myself mine we us our ours ourselves you your yours yourself
    yourselves he him his himself she her hers herself it its itself they them their theirs
    themselves this that these those who whom whose which what whatever whoever whichever
    someone something anyone anything everyone everything nobody nothing somebody everybody
    none one ones two three four five six seven eight nine ten eleven twelve first second
    third next last yes yeah yep yup no nope ok okay oh ah uh um hmm hey hi hello bye goodbye
    thanks thank thx please pls sorry well also really actually maybe perhaps probably still
    even already always never sometimes often usually ever now then today yesterday tomorrow
    tonight soon later lately recently ago anyway anyways though although however while
    whether since until unless till via per lol haha wow btw omg etc mr mrs ms dr prof sir
    madam st jr sr let lets gonna wanna gotta cannot ain't i'm i've i'll i'd you're you've
    you'll you'd he's she's it's we're we've we'll we'd they're they've they'll they'd that's
    there's here's what's who's let's don't doesn't didn't won't wouldn't can't couldn't
    shouldn't isn't aren't wasn't weren't hasn't haven't hadn't 's 'm 're 've 'll 'd n't
    everywhere somewhere anywhere nowhere else instead either neither quite rather pretty
    much many lot lots bit kind sort thing things stuff way ways own enough almost around
    """.split()
)

# Common verbs in all forms: they break keyphrases and are never sentence-initial names.
_VERBS = frozenset(
    """
    go goes going went gone get gets getting got gotten make makes making made take takes
    taking took taken come comes coming came see sees seeing saw seen know knows knowing knew
    known think thinks thinking thought say says saying said tell tells telling told want
    wants wanting wanted like likes liking liked love loves loving loved hate hates hating
    hated need needs needing needed feel feels feeling felt try tries trying tried use uses
    using used find finds finding found give gives giving gave given work works working
    worked live lives living lived move moves moving moved start starts starting started stop
    stops stopping stopped keep keeps keeping kept put puts putting seem seems seemed leave
    leaves leaving left call calls calling called ask asks asking asked look looks looking
    looked help helps helping helped talk talks talking talked turn turns turning turned
    enjoy enjoys enjoying enjoyed visit visits visiting visited own owns owning owned become
    becomes becoming became begin begins beginning began bring brings bringing brought buy
    buys buying bought hope hopes hoping hoped mean means meaning meant remember remembers
    remembered forget forgets forgot forgotten happen happens happened show shows showed
    shown hear hears heard meet meets meeting met plan plans planning planned decide decides
    decided decision learn learns learning learned learnt spend spends spending spent sound
    sounds sounded wish wishes wished guess guesses guessed agree agrees agreed miss misses
    missed wait waits waiting waited check checks checked share shares shared run runs
    running ran write writes writing wrote written read reads reading send sends sent
    cost costs prefer prefers preferred adopt adopts adopted join joins joined finish finishes
    finished
    """.split()
)

# Generic adjectives/adverbs/nouns: noise as concepts, but fine inside capitalised names.
_LIGHT = frozenset(
    """
    good great nice cool awesome amazing fun new old big small little bad best better worse
    worst happy sad glad excited sure fine real true hard easy different important interesting
    beautiful wonderful lovely favorite favourite busy free full long short high low early
    late able own special whole main certain other another every time times day days week
    weeks month months year years today night morning evening afternoon moment minute
    minutes hour hours people person guy guys everyone idea part place point fact case
    """.split()
)

_CONNECTORS = frozenset(
    "of the de la le du di da del der den van von y bin al".split()
)  # inside a capitalised run only

_MONTHS = frozenset(
    "january february march april may june july august september october november december"
    " jan feb mar apr jun jul aug sep sept oct nov dec".split()
)
_WEEKDAYS = frozenset(
    "monday tuesday wednesday thursday friday saturday sunday"
    " mondays tuesdays wednesdays thursdays fridays saturdays sundays".split()
)
_ROLES = frozenset("user assistant system human ai bot agent model".split())
_LABELS = frozenset(
    """note notes update summary question answer q a re subject todo warning tip example
    fyi ps nb edit source date time topic title reminder step result error output input
    caption tags tag""".split()
)
_UNITS = frozenset(
    """
    % km kms kilometers kilometres mi mile miles m meter meters metre metres cm mm ft feet foot
    inch inches kg kgs kilo kilos g gram grams lb lbs pound pounds oz ton tons l liter liters
    litre litres ml gallon gallons year years yr yrs month months week weeks day days hour
    hours hr hrs minute minutes min mins second seconds sec secs am pm dollar dollars usd eur
    euro euros cent cents percent k mph kph gb mb tb degrees calories cal times
    """.split()
)
_LY_NOUNS = frozenset(
    "family supply reply assembly rally jelly belly holly lily ally fly butterfly dragonfly"
    " anomaly monopoly melancholy bully italy july".split()
)

# Pattern verbs: verb form -> (relation, required following preposition or None).
_BE = {"is": "is", "are": "is", "am": "is", "'m": "is", "'re": "is", "was": "was", "were": "was"}
_PATTERNS: dict[str, tuple[str, frozenset[str] | None]] = {
    **{w: (r, None) for w, r in _BE.items()},
    "has": ("has", None),
    "have": ("has", None),
    "'ve": ("has", None),
    "had": ("had", None),
    "owns": ("has", None),
    "own": ("has", None),
    "owned": ("had", None),
    "like": ("likes", None),
    "likes": ("likes", None),
    "liked": ("liked", None),
    "love": ("loves", None),
    "loves": ("loves", None),
    "loved": ("loved", None),
    "hate": ("hates", None),
    "hates": ("hates", None),
    "hated": ("hated", None),
    "enjoy": ("enjoys", None),
    "enjoys": ("enjoys", None),
    "enjoyed": ("enjoyed", None),
    "visit": ("visits", None),
    "visits": ("visits", None),
    "visited": ("visited", None),
    "work": ("works", frozenset({"at", "for"})),
    "works": ("works", frozenset({"at", "for"})),
    "working": ("works", frozenset({"at", "for"})),
    "worked": ("worked", frozenset({"at", "for"})),
    "live": ("lives", frozenset({"in"})),
    "lives": ("lives", frozenset({"in"})),
    "living": ("lives", frozenset({"in"})),
    "lived": ("lived", frozenset({"in"})),
    "moved": ("moved", frozenset({"to"})),
    "move": ("moves", frozenset({"to"})),
    "moves": ("moves", frozenset({"to"})),
    "went": ("went", frozenset({"to"})),
    "goes": ("goes", frozenset({"to"})),
}
_NEGATIONS = frozenset({"not", "n't", "never", "no"})
# Allowed between the subject and the verb: auxiliaries and adverbs.
_SUBJ_GAP = frozenset(
    """
    really also still just always never not n't do does did 'd 'll will would should could
    can may might must used usually often sometimes currently now already once actually
    absolutely recently finally is are was were am 's 'm 're has have had 've been be
    """.split()
)
# Allowed between the verb (and preposition) and the object: determiners and adverbs.
_OBJ_SKIP = frozenset(
    """
    a an the my our your his her their its some this that these those not n't never no also
    really very still now currently actually just always finally recently totally
    absolutely quite so such two three four five six seven eight nine ten many several
    """.split()
)
_PRONOUN_I = frozenset({"i", "me"})

# ---------------------------------------------------------------------------------------------
# Normalisation

_APOS = str.maketrans({"’": "'", "‘": "'", "`": "'"})
_POSSESSIVE = re.compile(r"(?<=\w)'s\b|(?<=s)'(?!\w)")
_INNER_DOT = re.compile(r"(?<=\w)\.(?=\w)")
_INNER_APOS = re.compile(r"(?<=\w)'(?=\w)")
_NON_WORD = re.compile(r"[\W_]+")


def normalise_entity(text: str) -> str:
    """The graph node key for an entity's surface text.

    Steps: Unicode NFKC and casefold; possessive ``'s`` (and the plural ``s'``) removed;
    dots inside acronyms and apostrophes inside words removed ("U.S." -> "us", "O'Brien" ->
    "obrien"); every other run of non-letters/digits (hyphens, punctuation, underscores)
    becomes one space; whitespace collapsed; one leading article (the/a/an) dropped unless
    nothing else is left. This is HippoRAG's ``text_processing`` (§4.1.3) made Unicode-aware
    (letters such as "é" are kept). Different surface forms of one thing ("NYC", "New York
    City") are *not* merged here; synonym edges over embeddings do that later (§4.1.6).

    >>> normalise_entity("The Beatles' ")
    'beatles'
    >>> normalise_entity("Alice's")
    'alice'
    >>> normalise_entity("  New-York   City ")
    'new york city'
    """
    s = unicodedata.normalize("NFKC", text).casefold().translate(_APOS)
    s = _POSSESSIVE.sub("", s)
    s = _INNER_DOT.sub("", s)
    s = _INNER_APOS.sub("", s)
    s = _NON_WORD.sub(" ", s).strip()
    parts = s.split()
    if len(parts) > 1 and parts[0] in _ARTICLES:
        parts = parts[1:]
    return " ".join(parts)


def node_specificity(passage_counts: Mapping[str, int]) -> dict[str, float]:
    """HippoRAG 1 node specificity s_i = 1/|P_i| (research/algorithms.md §4.1.7, §4.2.3).

    ``passage_counts[node]`` is |P_i|, the number of passages (memories) whose extraction
    contains the node. A count of 0 gives 1.0, as in HippoRAG 1's ``phrase_to_num_doc``;
    a negative count is an error.
    """
    out: dict[str, float] = {}
    for node, count in passage_counts.items():
        if count < 0:
            raise ValueError(f"negative passage count for {node!r}: {count}")
        out[node] = 1.0 / count if count > 0 else 1.0
    return out


# ---------------------------------------------------------------------------------------------
# Tokenising

_TOKEN = re.compile(
    r"[^\W_]+(?=n['’]t\b)"  # "do" of "don't"
    r"|n['’]t\b"
    r"|['’](?:s|m|re|ve|ll|d)\b"
    r"|[^\W_]+(?:[-.&][^\W_]+)*",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+|\n+|;\s+")
_ABBREV_END = re.compile(
    r"(?:(?:^|\W)(?:mr|mrs|ms|dr|prof|st|jr|sr|vs|etc|e\.g|i\.e|no|approx)|\b(?:[A-Z]\.){1,}[A-Z])"
    r"\.\s*$",
    re.IGNORECASE,
)
_SPEAKER = re.compile(r"^\s*([^\W\d_][^\W_]*(?:[ .'’-]+[^\W_]+){0,3})\s*:\s+(?=\S)")
_INITIAL_GAP = re.compile(r"[:\"“”(\[•*–—]|(?:^|\s)-")
_MAX_KEY_CHARS = 80
_PAIR_MENTIONS = 6


@dataclass(slots=True)
class _Tok:
    text: str
    low: str
    start: int
    end: int
    kind: str = "w"  # "cap" named-entity token, "num", "time", "stop", "w" content word


@dataclass(slots=True)
class _Mention:
    first: int  # token index
    last: int  # token index, inclusive
    key: str


def _sentences(line: str) -> list[tuple[int, str]]:
    """Split one line into (offset, sentence) pieces, not splitting after "Dr." and the like."""
    pieces: list[tuple[int, str]] = []
    start = 0
    for m in _SENTENCE_END.finditer(line):
        if _ABBREV_END.search(line[start : m.start()]) and "\n" not in m.group():
            continue
        pieces.append((start, line[start : m.start()]))
        start = m.end()
    pieces.append((start, line[start:]))
    return [(o, s) for o, s in pieces if s.strip()]


def _speaker_prefix(line: str) -> tuple[str | None, bool, int]:
    """(speaker key or None, strip, offset after the prefix) for a "Name: text" line.

    ``strip`` is true for role labels ("user:") and headings ("Note:"): removed, no entity.
    """
    m = _SPEAKER.match(line)
    if not m:
        return None, False, 0
    name = m.group(1)
    key = normalise_entity(name)
    words = key.split()
    if not words or len(key) > _MAX_KEY_CHARS:
        return None, False, 0
    if key in _ROLES or key in _LABELS:
        return None, True, m.end()
    if not name[0].isupper():
        return None, False, 0
    if key in _LABELS or words[0] in _FUNCTION or key in _MONTHS or key in _WEEKDAYS:
        return None, False, 0
    return key, False, m.end()


def _is_acronym(tok: str) -> bool:
    letters = [c for c in tok if c.isalpha()]
    return len(letters) >= 2 and all(c.isupper() for c in letters)


def _trim_weak(words: list[_Tok]) -> list[_Tok]:
    def weak(t: _Tok) -> bool:
        return len(t.low) > 4 and (
            t.low.endswith("ed") or (t.low.endswith("ly") and t.low not in _LY_NOUNS)
        )

    while words and weak(words[0]):
        words = words[1:]
    while words and weak(words[-1]):
        words = words[:-1]
    return words


def _classify(sent: str, lower_vocab: frozenset[str]) -> list[_Tok]:
    toks = [
        _Tok(m.group(), m.group().casefold().translate(_APOS), m.start(), m.end())
        for m in _TOKEN.finditer(sent)
    ]
    alpha = [t for t in toks if t.text[0].isalpha()]
    capitalised = sum(1 for t in alpha if t.text[0].isupper())
    shouting = sum(1 for t in alpha if len(t.text) > 1 and t.text.isupper())
    headline = (len(alpha) >= 3 and shouting / len(alpha) > 0.6) or (
        len(alpha) >= 4 and capitalised / len(alpha) >= 0.9
    )  # SHOUTING or Title Case: capitalisation says nothing
    prev_end = 0
    for i, t in enumerate(toks):
        gap = sent[prev_end : t.start]
        prev_end = t.end
        initial = i == 0 or bool(_INITIAL_GAP.search(gap))
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        next_cap = nxt is not None and nxt.text[0].isupper() and nxt.low not in _FUNCTION
        if t.text[0].isdigit():
            t.kind = "num"
            continue
        if t.text.startswith(("'", "’")) or t.low == "n't":
            t.kind = "stop"
            continue
        is_cap = t.text[0].isupper() and not headline
        if (
            is_cap
            and (t.low in _MONTHS or t.low in _WEEKDAYS)
            and not (initial and t.low in _FUNCTION)
        ):
            t.kind = "time"
            continue
        if not is_cap and t.low in _WEEKDAYS:
            t.kind = "time"
            continue
        if is_cap and t.low not in _FUNCTION:
            if initial and not _is_acronym(t.text):
                standalone = not next_cap
                if (
                    t.low in _VERBS
                    or (standalone and t.low in _LIGHT)
                    or (standalone and t.low in lower_vocab)
                    or (standalone and len(t.low) > 5 and t.low.endswith(("ing", "ly")))
                ):
                    is_cap = False
            if is_cap:
                t.kind = "cap"
                continue
        t.kind = "stop" if (t.low in _FUNCTION or t.low in _VERBS or t.low in _LIGHT) else "w"
    return toks


def _mentions(sent: str, toks: list[_Tok], attributes: list[str]) -> list[_Mention]:
    out: list[_Mention] = []

    def plain_gap(a: _Tok, b: _Tok) -> bool:
        g = sent[a.end : b.start]
        return g.strip(" \t'’") == ""

    def add(first: int, last: int) -> None:
        key = normalise_entity(sent[toks[first].start : toks[last].end])
        acronym = first == last and _is_acronym(toks[first].text)
        if 2 <= len(key) <= _MAX_KEY_CHARS and (acronym or key not in _FUNCTION):
            out.append(_Mention(first, last, key))

    i, n = 0, len(toks)
    while i < n:
        t = toks[i]
        if t.kind == "cap":
            j = i
            while j + 1 < n and plain_gap(toks[j], toks[j + 1]):
                nx = toks[j + 1]
                if nx.kind == "cap":
                    j += 1
                elif (
                    nx.low in _CONNECTORS
                    and j + 2 < n
                    and toks[j + 2].kind == "cap"
                    and plain_gap(nx, toks[j + 2])
                ):
                    j += 2
                else:
                    break
            add(i, j)
            i = j + 1
        elif t.kind == "w":
            j = i
            while (
                j + 1 < n
                and toks[j + 1].kind == "w"
                and sent[toks[j].end : toks[j + 1].start].isspace()
            ):
                j += 1
            words = _trim_weak(toks[i : j + 1])
            if words:
                words = words[-3:]
                first = toks.index(words[0], i)
                add(first, first + len(words) - 1)
            i = j + 1
        elif t.kind == "num":
            lo, hi = t.start, t.end
            if lo > 0 and sent[lo - 1] in "$€£¥":
                lo -= 1
            if hi < len(sent) and sent[hi] == "%":
                hi += 1
            elif (
                i + 1 < n
                and toks[i + 1].low in _UNITS
                and sent[t.end : toks[i + 1].start].strip() == ""
            ):
                hi = toks[i + 1].end
                i += 1
            attributes.append(sent[lo:hi])
            i += 1
        else:
            if t.kind == "time":
                attributes.append(t.text)
            i += 1
    return out


def _negated(toks: list[_Tok], lo: int, hi: int) -> bool:
    return any(toks[k].low in _NEGATIONS for k in range(max(lo, 0), min(hi, len(toks))))


def _pattern_triples(
    sent: str, toks: list[_Tok], mentions: list[_Mention], speaker: str | None
) -> list[Triple]:
    ends = {m.last: m for m in mentions}
    starts = {m.first: m for m in mentions}
    out: list[Triple] = []

    def tight(a: int, b: int) -> bool:  # only whitespace (or nothing) between tokens a and b
        return sent[toks[a].end : toks[b].start].strip() == ""

    def subject_before(k: int) -> tuple[str | None, int]:
        j = k - 1
        hops = 0
        while j >= 0 and tight(j, j + 1):
            if j in ends:
                return ends[j].key, ends[j].first
            if toks[j].low in _PRONOUN_I and speaker:
                return speaker, j
            if toks[j].low not in _SUBJ_GAP or hops >= 3:
                return None, j
            hops += 1
            j -= 1
        return None, j

    def object_after(p: int) -> tuple[str | None, int]:
        hops = 0
        while p < len(toks) and tight(p - 1, p):
            if p in starts:
                return starts[p].key, p
            if (toks[p].low not in _OBJ_SKIP and toks[p].kind != "num") or hops >= 3:
                return None, p
            hops += 1
            p += 1
        return None, p

    for k, t in enumerate(toks):
        # Possessives: "X's Y" and "my Y" -> (X, has, Y).
        if t.low == "'s" and k - 1 in ends and k + 1 in starts and tight(k, k + 1):
            out.append(Triple(ends[k - 1].key, "has", starts[k + 1].key))
            continue
        if t.low == "my" and speaker and k + 1 in starts and tight(k, k + 1):
            out.append(Triple(speaker, "has", starts[k + 1].key))
            continue
        rule = _PATTERNS.get(t.low) or (("is", None) if t.low == "'s" else None)
        if rule is None or t.kind not in ("stop", "w"):
            continue
        relation, preps = rule
        subj, s_at = subject_before(k)
        if subj is None:
            continue
        p = k + 1
        if preps is not None:
            if p >= len(toks) or toks[p].low not in preps or not tight(k, p):
                continue
            relation = f"{relation} {toks[p].low}"
            p += 1
        if p >= len(toks):
            continue
        obj, o_at = object_after(p)
        if obj is None:
            continue
        if _negated(toks, s_at + 1, o_at):
            relation = f"not {relation}"
        out.append(Triple(subj, relation, obj))
    return out


def extract(
    text: str,
    *,
    speaker: str | None = None,
    max_triples: int = 20,
    max_entities: int = 64,
) -> Extraction:
    """Entities, triples and attributes of one memory's text; see the module docstring."""
    text = unicodedata.normalize("NFKC", text or "")
    default_speaker = normalise_entity(speaker) if speaker else ""
    lower_vocab = frozenset(
        m.group().casefold() for m in _TOKEN.finditer(text) if m.group()[0].islower()
    )

    entities: dict[str, None] = {}
    attributes: dict[str, None] = {}
    patterns: list[Triple] = []
    speaker_links: list[Triple] = []
    pair_links: list[Triple] = []
    if default_speaker:
        entities[default_speaker] = None

    for line in text.split("\n"):
        line_speaker, is_role, offset = _speaker_prefix(line)
        if line_speaker:
            entities.setdefault(line_speaker, None)
        who = line_speaker or default_speaker or None
        body = line[offset:] if (line_speaker or is_role) else line
        for _, sent in _sentences(body):
            toks = _classify(sent, lower_vocab)
            attrs: list[str] = []
            mentions = _mentions(sent, toks, attrs)
            for a in attrs:
                attributes.setdefault(a, None)
            keys = list(dict.fromkeys(m.key for m in mentions))
            for key in keys:
                entities.setdefault(key, None)
            patterns.extend(_pattern_triples(sent, toks, mentions, who))
            if who:
                speaker_links.extend(Triple(who, CO_OCCURS, k) for k in keys if k != who)
            if len(pair_links) < 4 * max_triples:
                head = keys[:_PAIR_MENTIONS]
                pair_links.extend(
                    Triple(a, CO_OCCURS, b) for i, a in enumerate(head) for b in head[i + 1 :]
                )

    kept = list(entities)[: max(max_entities, 0)]
    kept_set = set(kept)
    triples: list[Triple] = []
    linked: set[frozenset[str]] = set()
    seen: set[tuple[str, str, str]] = set()
    for tr in (*patterns, *speaker_links, *pair_links):
        if len(triples) >= max_triples:
            break
        if tr.subject == tr.object or tr.subject not in kept_set or tr.object not in kept_set:
            continue
        pair = frozenset((tr.subject, tr.object))
        if tr.relation == CO_OCCURS:
            if pair in linked:
                continue
        elif (tr.subject, tr.relation, tr.object) in seen:
            continue
        seen.add((tr.subject, tr.relation, tr.object))
        linked.add(pair)
        triples.append(tr)
    return Extraction(entities=tuple(kept), triples=tuple(triples), attributes=tuple(attributes))
