"""What an activation prefix says: core memory first, then the strongest memories (pure).

The prefix is the system message of every generation with the cube's activation memory. Its
text must be byte-identical between the build (which prefills it once) and each generation
(which reuses that prefill), so it depends only on the memories it covers: their content and
dates, never on the clock or on the question.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime

HEADER = (
    "You are a helpful assistant with a long-term memory. What you remember is below; use it "
    "when it helps to answer, and do not recite it otherwise."
)
CORE_TITLE = "Core memory:"
MEMORIES_TITLE = "Memories:"


@dataclasses.dataclass(frozen=True)
class PrefixMemory:
    id: uuid.UUID
    version: int
    memory_type: str
    content: str
    occurred_at: datetime
    label: str | None = None  # a core block's label (human, persona)


@dataclasses.dataclass(frozen=True)
class Prefix:
    text: str
    memories: tuple[PrefixMemory, ...]  # those the text covers, in its order
    left_out: int  # memories that did not fit the token budget


def line_of(memory: PrefixMemory) -> str:
    content = " ".join(memory.content.split())  # one line per memory
    if memory.memory_type == "core":
        return f"[{memory.label or 'core'}] {content}"
    return f"- ({memory.occurred_at.date().isoformat()}) {content}"


def render(memories: Sequence[PrefixMemory]) -> str:
    core = [line_of(m) for m in memories if m.memory_type == "core"]
    rest = [line_of(m) for m in memories if m.memory_type != "core"]
    parts = [HEADER]
    if core:
        parts.append("\n".join([CORE_TITLE, *core]))
    if rest:
        parts.append("\n".join([MEMORIES_TITLE, *rest]))
    return "\n\n".join(parts)


def compose(
    candidates: Sequence[PrefixMemory],
    *,
    count_text: Callable[[str], int],
    count_rendered: Callable[[str], int],
    max_tokens: int,
) -> Prefix:
    """The candidates, in their order of priority, whose rendering fits in `max_tokens`.

    `count_rendered` counts the tokens of a system text as the model sees it (chat template
    included), `count_text` those of a bare piece of text. Lines are costed one by one
    (tokenising the growing text each time would be quadratic); a memory too long for what is
    left is skipped, so one long memory does not crowd out every shorter one after it. The
    estimate is then checked on the exact text and trimmed from the end, since a token can
    straddle two lines.
    """
    chosen: list[PrefixMemory] = []
    used = count_rendered(render([]))
    sections: set[bool] = set()
    for memory in candidates:
        is_core = memory.memory_type == "core"
        title = 0 if is_core in sections else count_text("\n\n" + CORE_TITLE) + 1
        cost = count_text("\n" + line_of(memory)) + title
        if used + cost > max_tokens:
            continue
        chosen.append(memory)
        sections.add(is_core)
        used += cost
    while chosen and count_rendered(render(chosen)) > max_tokens:
        chosen.pop()
    return Prefix(render(chosen), tuple(chosen), len(candidates) - len(chosen))


def priority(core: Sequence[PrefixMemory], ranked: Sequence[PrefixMemory]) -> list[PrefixMemory]:
    """Core blocks first (they are who the user is), then the ranked memories."""
    seen = {m.id for m in core}
    return [*core, *(m for m in ranked if m.id not in seen)]
