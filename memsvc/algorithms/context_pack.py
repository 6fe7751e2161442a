"""Prompt-ready memory context within a token budget (MIRIX active retrieval, §5.3).

MIRIX injects retrieved memories into the system prompt as tagged sections: the current time,
``<core_memory>``, then one section per memory type. ``pack_context`` builds that text from
the core blocks and a relevance-ranked list of retrieved items, within a token budget:

* the core blocks first (always relevant), each cut at a word when the whole does not fit;
* then the ranked items in the given order, each one whole or not at all (an item that does
  not fit is skipped and the next, possibly shorter, ones are tried);
* rendered grouped by type in a fixed order (``SECTION_ORDER``; other types after, by name),
  items in rank order within their section, empty sections left out.

Token counts are estimates (``estimate_tokens``); the whole rendered text, tags and header
included, is checked against the budget at every step, so ``estimate_tokens(text) <= budget``
always holds. Pure functions; same input, same output.
"""

from __future__ import annotations

import dataclasses
import math
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "SECTION_ORDER",
    "ContextItem",
    "PackedContext",
    "estimate_tokens",
    "pack_context",
]

CORE = "core"
SECTION_ORDER: tuple[str, ...] = (
    CORE,
    "episodic",
    "semantic",
    "procedural",
    "resource",
    "knowledge_vault",
)
"""Sections in the order MIRIX's prompt has them: core, then the event log, then knowledge."""

TOKENS_PER_WORD = 1.33
CHARS_PER_TOKEN = 4.0


def estimate_tokens(text: str) -> int:
    """A deterministic, tokenizer-free upper-leaning estimate of ``text``'s token count:
    ``ceil(max(words × 1.33, chars / 4))``.

    Why: BPE tokenizers of current LLMs average about 0.75 English words per token (1.33
    tokens a word) and about 4 characters per token. Prose is near both; text with few spaces
    (code, URLs, identifiers, numbers, JSON) is undercounted by words and caught by characters,
    while text of many short words is undercounted by characters and caught by words; taking
    the larger errs on the side of staying within the model's window. No tokenizer keeps this
    free of model downloads and identical across models. It undercounts scripts without
    spaces that tokenize near one token a character (Chinese, Japanese): leave headroom there.
    """
    if not text:
        return 0
    words = len(text.split())
    return math.ceil(max(words * TOKENS_PER_WORD, len(text) / CHARS_PER_TOKEN))


@dataclass(frozen=True)
class ContextItem:
    memory_id: uuid.UUID
    memory_type: str  # a MemoryType value ("core", "episodic", ...); others get a section too
    text: str
    score: float
    occurred_at: datetime | None = None


@dataclass(frozen=True)
class PackedContext:
    text: str
    tokens: int  # estimate_tokens(text), never above the budget
    included: tuple[ContextItem, ...]  # core first, then ranked, in order of inclusion; a cut
    # core block appears with the text it was cut to
    omitted: int  # items left out for want of room (each memory id counted once; blank
    # items and repeats of an id already seen are not counted)
    truncated: bool  # whether a core block was cut to fit


def _section_tag(memory_type: str) -> str:
    """The section's tag name: ``<type>_memory`` (``knowledge_vault`` as it is, as in MIRIX);
    a type with characters other than letters, digits and "_" has them replaced by "_"."""
    name = re.sub(r"\W+", "_", memory_type).strip("_") or "other"
    return name if name == "knowledge_vault" else f"{name}_memory"


def _section_rank(memory_type: str) -> tuple[int, str]:
    if memory_type in SECTION_ORDER:
        return SECTION_ORDER.index(memory_type), ""
    return len(SECTION_ORDER), memory_type


def _entry(item: ContextItem, is_core: bool) -> str:
    """An item as it appears in its section: a core block verbatim (trimmed), anything else as
    one list line, dated when it has a time."""
    if is_core:
        return item.text.strip()
    text = " ".join(item.text.split())
    if item.occurred_at is not None:
        return f"- [{item.occurred_at.date().isoformat()}] {text}"
    return f"- {text}"


class _Layout:
    """The rendered text as counts (words, characters), kept up to date as entries are added,
    so each "does it fit?" costs O(entry) rather than a re-render.

    The text is lines joined by "\\n": the header, then per non-empty section its opening tag,
    its entries and its closing tag. ``str.split`` words add up over lines and tags are one
    word each, so the counts are exact (``render`` builds the same text).
    """

    def __init__(self, header: str | None) -> None:
        self.header = header
        self.sections: dict[str, list[str]] = {}
        self.words = len(header.split()) if header else 0
        self.chars = len(header) if header else 0
        self.lines = 1 if header else 0

    def _cost(self, section: str, entry: str) -> tuple[int, int, int]:
        """Words, characters and lines the entry adds (its section's tags when it is the
        section's first)."""
        words, chars, lines = len(entry.split()), len(entry), 1
        if section not in self.sections:
            tag = _section_tag(section)
            words += 2
            chars += len(f"<{tag}>") + len(f"</{tag}>")
            lines += 2
        return words, chars, lines

    def tokens_with(self, section: str, entry: str) -> int:
        words, chars, lines = self._cost(section, entry)
        total_lines = self.lines + lines
        total_chars = self.chars + chars + total_lines - 1  # newlines between lines
        return math.ceil(max((self.words + words) * TOKENS_PER_WORD, total_chars / CHARS_PER_TOKEN))

    def add(self, section: str, entry: str) -> None:
        words, chars, lines = self._cost(section, entry)
        self.words += words
        self.chars += chars
        self.lines += lines
        self.sections.setdefault(section, []).append(entry)

    def render(self) -> str:
        lines = [self.header] if self.header else []
        for section in sorted(self.sections, key=_section_rank):
            tag = _section_tag(section)
            lines += [f"<{tag}>", *self.sections[section], f"</{tag}>"]
        return "\n".join(lines)


def _longest_fitting_prefix(layout: _Layout, entry: str, budget: int) -> str:
    """The longest prefix of ``entry`` ending at a word that fits in the core section ("" when
    none): a binary search over the word ends (the estimate grows with the prefix)."""
    ends = [i for i in range(1, len(entry) + 1) if i == len(entry) or entry[i].isspace()]
    ends = [e for e in ends if not entry[e - 1].isspace()]
    low, high, best = 0, len(ends) - 1, ""
    while low <= high:
        mid = (low + high) // 2
        candidate = entry[: ends[mid]].rstrip()
        if layout.tokens_with(CORE, candidate) <= budget:
            best, low = candidate, mid + 1
        else:
            high = mid - 1
    return best


def pack_context(
    core: Sequence[ContextItem],
    ranked: Sequence[ContextItem],
    budget_tokens: int,
    *,
    now: datetime | None = None,
) -> PackedContext:
    """Core blocks, then ranked items, rendered as tagged sections within ``budget_tokens``.

    ``core`` items all go to ``<core_memory>`` whatever their ``memory_type``; ``ranked`` items
    go to their type's section (a "core" ranked item too). An item whose memory id was seen
    before (included or left out) is skipped as a duplicate. With ``now``, the first line is
    the current time; when not even that fits, the result is empty.
    """
    header = f"Current time: {now.isoformat(timespec='minutes')}" if now is not None else None
    layout = _Layout(header)
    total = len(core) + len(ranked)
    if budget_tokens <= 0 or (header and estimate_tokens(header) > budget_tokens):
        return PackedContext("", 0, (), total, False)

    included: list[ContextItem] = []
    seen: set[uuid.UUID] = set()
    omitted = 0
    truncated = False
    for item in core:
        if item.memory_id in seen:
            continue
        entry = _entry(item, is_core=True)
        if not entry:
            continue
        seen.add(item.memory_id)
        if layout.tokens_with(CORE, entry) > budget_tokens:
            cut = _longest_fitting_prefix(layout, entry, budget_tokens)
            if not cut:
                omitted += 1
                continue
            entry, truncated = cut, True
            item = dataclasses.replace(item, text=cut)
        layout.add(CORE, entry)
        included.append(item)
    for item in ranked:
        if item.memory_id in seen:
            continue
        if not item.text.strip():
            continue
        seen.add(item.memory_id)
        entry = _entry(item, is_core=False)
        if layout.tokens_with(item.memory_type, entry) > budget_tokens:
            omitted += 1
            continue
        layout.add(item.memory_type, entry)
        included.append(item)
    text = layout.render()
    return PackedContext(text, estimate_tokens(text), tuple(included), omitted, truncated)
