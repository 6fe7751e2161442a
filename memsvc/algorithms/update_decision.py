"""How a newly extracted fact relates to what is already stored: add, reinforce, update or
supersede (the write path of conversation ingestion). Pure: the caller finds the neighbours.

A fact may carry a *slot*: an attribute of its subject (`lives_in`, `works_at`, `job`,
`name_of:dog`, `likes:coffee`, ...) and a value. Against the stored facts of the same subject
and memory type (`neighbours`, with their cosine to the new fact):

- the same text, or the same slot and value, or (unless both fill a slot) cosine >=
  `duplicate_threshold`: **reinforce** the stored fact (nothing new was said);
- the same slot, and one value refines the other ("berlin" -> "berlin kreuzberg"): **update**
  the stored fact (a new version of the same memory);
- the same single-valued slot with another value ("lives_in berlin" after "lives_in paris"):
  **supersede**: the old fact stays, ends (`valid_to`), and the new one starts (`valid_from`);
- no slot on either side, cosine >= `update_threshold`: **update** (a rephrasing that adds to it);
- anything else: **add**.

Slots whose attribute holds many values at once (`has:car` next to `has:bike` is not a change)
never supersede; their attribute names the object, so different objects are different slots.
Limits: the rules see only what the extractor put in the slot; "moved to Berlin" supersedes
"lives in Paris" only because the extractor maps both to `lives_in`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from enum import StrEnum
from typing import Generic, TypeVar

K = TypeVar("K")

DUPLICATE_THRESHOLD = 0.95
UPDATE_THRESHOLD = 0.9

# Attributes (or attribute prefixes ending in ":") that hold one value at a time.
SINGLE_VALUED = (
    "lives_in",
    "works_at",
    "job",
    "name",
    "name_of:",
    "favourite:",
    "birthday",
    "age",
    "likes:",
    "allergic_to:",
    "relationship",
    "studies_at",
    "from",
    "diet",
    "born_in",
    "birth_year",
)


class Decision(StrEnum):
    ADD = "add"
    REINFORCE = "reinforce"
    UPDATE = "update"
    SUPERSEDE = "supersede"
    # Not one of these rules' verdicts: the poisoning check's (memsvc.algorithms.consensus),
    # when the new fact contradicts a consensus of more trusted ones.
    QUARANTINE = "quarantine"


@dataclasses.dataclass(frozen=True)
class Fact:
    """A fact as the rules compare it (new or stored)."""

    content: str
    subject: str
    memory_type: str
    attribute: str | None = None
    value: str | None = None


@dataclasses.dataclass(frozen=True)
class Neighbour(Generic[K]):
    key: K
    fact: Fact
    similarity: float  # cosine to the new fact


@dataclasses.dataclass(frozen=True)
class Verdict(Generic[K]):
    decision: Decision
    target: K | None  # the stored fact reinforced, updated or superseded
    reason: str


def single_valued(attribute: str) -> bool:
    return any(
        attribute.startswith(a) if a.endswith(":") else attribute == a for a in SINGLE_VALUED
    )


def _norm(text: str | None) -> str:
    return " ".join((text or "").casefold().replace(".", " ").split())


def _refines(a: str, b: str) -> bool:
    """One value is the other with more words ("berlin" and "berlin kreuzberg")."""
    wa, wb = a.split(), b.split()
    if not wa or not wb or wa == wb:
        return False
    short, long = (wa, wb) if len(wa) < len(wb) else (wb, wa)
    return all(w in long for w in short)


def agrees(a: str | None, b: str | None) -> bool:
    """Two values of one slot say the same: equal, or one refines the other ("berlin" and
    "berlin kreuzberg")."""
    x, y = _norm(a), _norm(b)
    return x == y or _refines(x, y)


def decide(
    new: Fact,
    neighbours: Sequence[Neighbour[K]],
    *,
    duplicate_threshold: float = DUPLICATE_THRESHOLD,
    update_threshold: float = UPDATE_THRESHOLD,
) -> Verdict[K]:
    """The decision for `new` against the stored facts (best candidates first)."""
    same = [
        n
        for n in neighbours
        if _norm(n.fact.subject) == _norm(new.subject) and n.fact.memory_type == new.memory_type
    ]
    for n in same:
        # Two slotted facts are compared by slot: "favourite colour blue" and "... green" are
        # close in embedding space but not the same fact.
        slotted = new.attribute is not None and n.fact.attribute is not None
        if _norm(n.fact.content) == _norm(new.content) or (
            not slotted and n.similarity >= duplicate_threshold
        ):
            return Verdict(Decision.REINFORCE, n.key, f"repeats a stored fact ({n.similarity:.2f})")
    if new.attribute:
        slot = [n for n in same if n.fact.attribute == new.attribute]
        for n in slot:
            old, value = _norm(n.fact.value), _norm(new.value)
            if old == value:
                return Verdict(Decision.REINFORCE, n.key, f"same {new.attribute}: {new.value}")
            if _refines(old, value):
                return Verdict(
                    Decision.UPDATE,
                    n.key,
                    f"{new.attribute} refined: {n.fact.value} -> {new.value}",
                )
        if slot and single_valued(new.attribute):
            n = max(slot, key=lambda s: s.similarity)
            return Verdict(
                Decision.SUPERSEDE,
                n.key,
                f"{new.attribute} changed: {n.fact.value} -> {new.value}",
            )
        return Verdict(
            Decision.ADD, None, f"a new {new.attribute}" if not slot else "another value"
        )
    for n in same:
        if n.fact.attribute is None and n.similarity >= update_threshold:
            return Verdict(Decision.UPDATE, n.key, f"rephrases a stored fact ({n.similarity:.2f})")
    return Verdict(Decision.ADD, None, "nothing like it is stored")


# Vault slots that name no particular secret ("Sam's token" for any long random string): two of
# them are two secrets, not one secret changed.
GENERIC_SECRET_SLOTS = frozenset({"secret:token", "secret:secret", "secret:api_key"})


@dataclasses.dataclass(frozen=True)
class StoredSecret(Generic[K]):
    key: K
    attribute: str | None  # "secret:github_token"
    digest: str  # a hash of the stored secret (computed in memory, never stored)


def decide_secret(
    attribute: str | None, digest: str, stored: Sequence[StoredSecret[K]]
) -> Verdict[K]:
    """The decision for a new knowledge-vault secret against the subject's stored ones.

    The same secret again (whatever its label): **reinforce**. The same named slot with another
    secret ("my wifi password is now ..."): **supersede** the old entry, which keeps its
    ciphertext and history. A generic slot (an unlabelled token) or a new slot: **add**.
    Secrets are compared by digest, so neither value is ever put in a reason.
    """
    for s in stored:
        if s.digest == digest:
            return Verdict(Decision.REINFORCE, s.key, "the same secret again")
    if attribute and attribute not in GENERIC_SECRET_SLOTS:
        same_slot = [s for s in stored if s.attribute == attribute]
        if same_slot:
            label = attribute.removeprefix("secret:").replace("_", " ")
            return Verdict(Decision.SUPERSEDE, same_slot[-1].key, f"a new {label}")
    return Verdict(Decision.ADD, None, "a new secret")
