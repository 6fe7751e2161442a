"""MIRIX core memory blocks: appending without repeats, and extractive condensing.

A core block (research/algorithms.md §5.1, §5.2) is a short text about the user ("human") or
the agent ("persona") that is always in the prompt, capped at ``limit`` characters (MIRIX:
5000). MIRIX's core manager appends facts and, when the block would be 90% full, rewrites it
to about half its size. ``needs_condensing`` is that trigger; ``condense`` is the deterministic
rewrite (``memsvc.services.summary_llm.condense_block`` asks an LLM first).

``condense`` is extractive. It drops sentences that repeat another (same content words, or all
of their content words inside a longer sentence), then keeps sentences by a score that prefers
later ones (newer facts supersede older ones in an append-only block) and longer ones (more
information), until the target is reached, and renders them in their original order and lines.
Pure functions; same input, same output.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from memsvc.algorithms.summaries import content_tokens, cut_at_word, split_sentences, word_tokens

__all__ = [
    "CONDENSE_AT",
    "CONDENSE_TO",
    "DEFAULT_LIMIT",
    "append_to_block",
    "condense",
    "needs_condensing",
]

DEFAULT_LIMIT = 5000
"""MIRIX's default core block limit, in characters."""

CONDENSE_AT = 0.9
"""Condense when the block reaches this fraction of its limit (MIRIX: 4500 of 5000)."""

CONDENSE_TO = 0.5
"""...down to about this fraction of the limit (MIRIX: about 2500 of 5000)."""

NEAR_DUPLICATE_JACCARD = 0.8
"""Two sentences whose content words overlap at least this much (Jaccard) say the same."""

RECENCY_WEIGHT = 0.65
"""Share of recency (vs informativeness) in a sentence's keep score."""

_NEGATIONS = frozenset({"not", "no", "never", "don't", "doesn't", "didn't", "isn't", "aren't"})
_NEGATIONS |= frozenset({"wasn't", "weren't", "can't", "cannot", "won't", "nor", "none"})


def needs_condensing(text: str, limit: int) -> bool:
    """Whether a block of ``limit`` characters is full enough to condense (≥ 90%)."""
    return len(text) >= CONDENSE_AT * limit


def _normalised(sentence: str) -> str:
    return " ".join(word_tokens(sentence))


def append_to_block(block: str, addition: str) -> str:
    """``block`` with ``addition`` on a new line; ``block`` unchanged when the addition is blank
    or every one of its sentences (compared as lower-case words) is already in the block."""
    addition = addition.strip()
    if not addition:
        return block
    present = {_normalised(s) for s in split_sentences(block)}
    if all(_normalised(s) in present for s in split_sentences(addition)):
        return block
    if not block.strip():
        return addition
    return f"{block.rstrip()}\n{addition}"


@dataclass(frozen=True)
class _Sentence:
    index: int  # position in the text
    line: int  # the line it stands on (sentences of one line are rendered on one line)
    text: str
    words: frozenset[str]  # content words; negations kept, as polarity matters
    key: str  # all words, for exact repeats


def _sentences(text: str) -> list[_Sentence]:
    out: list[_Sentence] = []
    for line_no, line in enumerate(text.splitlines()):
        for sentence in split_sentences(line):
            words = frozenset(content_tokens(sentence)) | (
                frozenset(word_tokens(sentence)) & _NEGATIONS
            )
            out.append(_Sentence(len(out), line_no, sentence, words, _normalised(sentence)))
    return out


def _near_duplicate(a: _Sentence, b: _Sentence) -> bool:
    """Whether ``a`` and ``b`` say the same thing: the same words, content words overlapping
    at ``NEAR_DUPLICATE_JACCARD``, or all (at least two) content words of the shorter one in
    the longer one. Never when only one of them is negated ("is" vs "is not vegetarian")."""
    if a.key == b.key:
        return True
    if not a.words or not b.words or bool(a.words & _NEGATIONS) != bool(b.words & _NEGATIONS):
        return False
    small, large = (a.words, b.words) if len(a.words) <= len(b.words) else (b.words, a.words)
    if len(small) >= 2 and small <= large:
        return True
    return len(a.words & b.words) / len(a.words | b.words) >= NEAR_DUPLICATE_JACCARD


def _deduplicated(sentences: Sequence[_Sentence]) -> list[_Sentence]:
    """Sentences without repeats, in text order. Of two that say the same, the one with more
    content words stays; between equals, the later (newer) one.

    Sentences are taken largest first, so a kept one is never smaller than the one at hand,
    and a near duplicate of it must hold at least ``NEAR_DUPLICATE_JACCARD`` of its words:
    only kept sentences sharing that many words (found through a word index) are compared.
    """
    kept: list[_Sentence] = []
    keys: set[str] = set()
    postings: dict[str, list[int]] = defaultdict(list)
    for s in sorted(sentences, key=lambda s: (-len(s.words), -s.index)):
        if s.key in keys:
            continue
        shared: Counter[int] = Counter()
        for word in s.words:
            shared.update(postings[word])
        needed = NEAR_DUPLICATE_JACCARD * len(s.words) - 1e-9
        if any(n >= needed and _near_duplicate(s, kept[k]) for k, n in shared.items()):
            continue
        keys.add(s.key)
        for word in s.words:
            postings[word].append(len(kept))
        kept.append(s)
    return sorted(kept, key=lambda s: s.index)


def _render(sentences: Sequence[_Sentence]) -> str:
    """Sentences of one line joined by a space, lines by a newline: every separator is one
    character, so the length is the sum of the sentences' plus their count less one."""
    parts: list[str] = []
    for i, s in enumerate(sentences):
        if i:
            parts.append(" " if s.line == sentences[i - 1].line else "\n")
        parts.append(s.text)
    return "".join(parts)


def condense(text: str, target_chars: int) -> str:
    """``text`` in at most ``target_chars`` characters, by keeping whole sentences.

    Repeated sentences go first (see ``_near_duplicate``); if the rest fits it is returned
    (lines kept). Otherwise sentences are kept by score (recency ``RECENCY_WEIGHT``, content
    words the rest; ties to the later one), skipping any that no longer fits, and rendered in
    their original order. When not even one sentence fits, the best one is cut at a word.
    """
    if target_chars <= 0:
        return ""
    unique = _deduplicated(_sentences(text))
    if not unique:
        return ""
    rendered = _render(unique)
    if len(rendered) <= target_chars:
        return rendered
    n = len(unique)
    most_words = max(len(s.words) for s in unique) or 1

    def score(position: int, s: _Sentence) -> float:
        recency = (position + 1) / n
        return RECENCY_WEIGHT * recency + (1 - RECENCY_WEIGHT) * len(s.words) / most_words

    order = sorted(enumerate(unique), key=lambda p: (-score(*p), -p[0]))
    chosen: list[_Sentence] = []
    used = -1  # no separator before the first sentence
    for _, s in order:
        if used + 1 + len(s.text) <= target_chars:
            chosen.append(s)
            used += 1 + len(s.text)
    if not chosen:
        return cut_at_word(order[0][1].text, target_chars)
    return _render(sorted(chosen, key=lambda s: s.index))
