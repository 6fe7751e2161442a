"""Write-time deduplication: when is a new memory a repeat of one already stored?

A repeat must be of the same memory type, about the same user and agent; an episodic repeat
also needs the same session and the same time, so "thanks!" said on two days stays two events
while the same event sent twice is stored once. Text that is equal after whitespace and case
normalisation is an exact repeat; embeddings at cosine >= the threshold are a near repeat.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

import numpy as np

EPISODIC = "episodic"
K = TypeVar("K")


@dataclasses.dataclass(frozen=True)
class DuplicateProbe:
    """A new memory, as dedup compares it with others."""

    memory_type: str
    content_hash: str
    vector: np.ndarray  # L2-normalised
    user_id: str | None
    agent_id: str | None
    session_id: str | None
    occurred_at: datetime | None


def same_owner(new: DuplicateProbe, other: DuplicateProbe) -> bool:
    """Whether `new` may repeat `other`. An episodic `new` without a time matches any time of
    the same session; with one, only that time (the rule the store applies to stored rows)."""
    if (new.memory_type, new.user_id, new.agent_id) != (
        other.memory_type,
        other.user_id,
        other.agent_id,
    ):
        return False
    if new.memory_type != EPISODIC:
        return True
    if new.session_id != other.session_id:
        return False
    return new.occurred_at is None or new.occurred_at == other.occurred_at


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine of two L2-normalised vectors."""
    return float(np.dot(a, b))


def repeat_of(
    probe: DuplicateProbe,
    earlier: Sequence[tuple[K, DuplicateProbe]],
    threshold: float,
    unless: Callable[[K], bool] | None = None,
) -> tuple[K, str] | None:
    """The first earlier probe (its key, "exact" | "near") this one repeats, if any; `unless`
    vetoes a match by its key (asked only of matches: it may be costly)."""
    for key, other in earlier:
        if not same_owner(probe, other):
            continue
        if other.content_hash == probe.content_hash:
            kind = "exact"
        elif threshold < 1.0 and cosine(probe.vector, other.vector) >= threshold:
            kind = "near"
        else:
            continue
        if unless is None or not unless(key):
            return key, kind
    return None
