"""Consensus validation of a new memory against more trusted ones (after A-MemGuard, 2025).

A-MemGuard checks a memory against related memories before it is used and sets aside what
contradicts their consensus. Here the check runs when a memory is written (memsvc.services.
quarantine finds the related memories; this module decides, without I/O):

**Related ("witnesses").** Live, currently valid memories of the same cube and user that are
*more trusted* than the new one (memsvc.algorithms.trust): the facts of the same slot (subject
and attribute) when the new memory fills one, and the nearest memories by embedding above a
cosine threshold. Equally or less trusted memories never count: trust only flows downwards.

**Contradiction, by rule** (`relation`), each rule chosen to be reliable rather than complete:

- *slot*: both fill the same slot of the same subject, the attribute holds one value at a time
  (`update_decision.single_valued`: lives_in, works_at, name_of:X, favourite:X, ...) and the
  values neither match nor refine each other ("paris" against "london"; "berlin kreuzberg"
  refines "berlin"). The same value, or a refinement, *supports* it.
- *negation*: the two sentences are the same statement but for a negation ("Sam is allergic to
  peanuts" / "Sam is not allergic to peanuts", "Sam likes jazz" / "Sam doesn't like jazz", "no
  longer"): compared after lower-casing, expanding contractions, dropping articles, do/does/did
  and a leading "no,"/"yes,", and stripping a final -s; at least 3 words must remain, and
  questions are never read as statements. The same statement with the same polarity supports it.
- anything else is unrelated. An LLM, when configured, may find more contradictions
  (`memsvc.services.quarantine`), never fewer: the text it judges is the suspect's, and may be
  written to talk it out of a verdict.

**Consensus** (`rule`). The contradicting witnesses are grouped by what they assert (a slot
value, a statement); a group is a consensus when it carries at least `min_consensus`
independent statements (distinct source messages: a fact stated twice is two statements even
though it is stored once; a turn and the fact inferred from it are one), or when it holds a
memory of the highest level (`system`): that level is only written by keys the operator gave
the `admin` scope, so a tool output or an agent's own words cannot reach it, and one operator
statement is authoritative. A memory that contradicts a consensus is quarantined, unless a more
trusted memory agrees with it (the trusted memories then disagree among themselves, and the
new one adds nothing they do not already say).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from enum import StrEnum
from typing import Generic, TypeVar

from memsvc.algorithms.trust import TOP
from memsvc.algorithms.trust import name as trust_name
from memsvc.algorithms.update_decision import agrees, single_valued

K = TypeVar("K")

MIN_CONSENSUS = 2
MIN_STATEMENT_WORDS = 3


class Relation(StrEnum):
    CONTRADICTS = "contradicts"
    SUPPORTS = "supports"
    UNRELATED = "unrelated"


@dataclasses.dataclass(frozen=True)
class Statement:
    """What a memory says, as the rules compare it."""

    content: str
    subject: str | None = None
    attribute: str | None = None
    value: str | None = None


@dataclasses.dataclass(frozen=True)
class Witness(Generic[K]):
    """A related, more trusted memory."""

    key: K
    statement: Statement
    trust: int
    # Independent statements it stands for: its source message ids (a memory without any is
    # one statement of its own).
    sources: frozenset[str]


@dataclasses.dataclass(frozen=True)
class Judged(Generic[K]):
    witness: Witness[K]
    relation: Relation
    position: str  # what the witness asserts: witnesses that agree share it
    by: str = "rules"  # "rules" or "llm"


@dataclasses.dataclass(frozen=True)
class Ruling(Generic[K]):
    quarantine: bool
    reason: str
    contradicted: tuple[Judged[K], ...] = ()  # more trusted memories it contradicts
    consensus: tuple[Judged[K], ...] = ()  # of those, the ones forming a consensus

    @property
    def judged_by(self) -> str:
        return "llm" if any(j.by == "llm" for j in self.consensus) else "rules"


# --- statements and negation ----------------------------------------------------------------

_INTERJECTION = re.compile(r"^\s*(?:no|yes|well|actually|oh|ok|okay|so)\s*[,!.;:-]\s*")
_CONTRACTIONS = (
    (re.compile(r"\bcan['’]t\b"), "can not"),
    (re.compile(r"\bcannot\b"), "can not"),
    (re.compile(r"\bwon['’]t\b"), "will not"),
    (re.compile(r"\bshan['’]t\b"), "shall not"),
    (re.compile(r"n['’]t\b"), " not"),
    (re.compile(r"['’]m\b"), " am"),
    (re.compile(r"['’]re\b"), " are"),
    (re.compile(r"['’]s\b"), " is"),
    (re.compile(r"['’]ve\b"), " have"),
    (re.compile(r"['’]ll\b"), " will"),
    (re.compile(r"['’]d\b"), " would"),
    (re.compile(r"\bno\s+longer\b"), "not"),
)
_NEGATORS = frozenset({"not", "never", "no"})
_DROPPED = frozenset({"a", "an", "the", "do", "does", "did", "anymore", "any"})
_SAME = {"am": "is", "are": "is", "has": "have", "were": "was"}


def _stem(word: str) -> str:
    word = _SAME.get(word, word)
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def polar(text: str) -> tuple[tuple[str, ...], bool] | None:
    """(the statement's words without negation, whether it is negated), or None for what the
    negation rule does not read (a question, fewer than MIN_STATEMENT_WORDS words)."""
    if "?" in text:
        return None
    lowered = _INTERJECTION.sub("", text.casefold())
    for pattern, replacement in _CONTRACTIONS:
        lowered = pattern.sub(replacement, lowered)
    words = re.findall(r"[a-z0-9]+", lowered)
    negations = sum(w in _NEGATORS for w in words)
    core = tuple(_stem(w) for w in words if w not in _NEGATORS and w not in _DROPPED)
    if len(core) < MIN_STATEMENT_WORDS:
        return None
    return core, negations % 2 == 1


def _norm(text: str | None) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", (text or "").casefold()))


def relation(new: Statement, old: Statement) -> tuple[Relation, str]:
    """How `new` relates to `old` by the rules, and what `old` asserts (its position)."""
    if (
        new.attribute
        and old.attribute
        and new.attribute == old.attribute
        and _norm(new.subject) == _norm(old.subject)
    ):
        position = f"slot:{old.attribute}={_norm(old.value)}"
        if agrees(new.value, old.value):
            return Relation.SUPPORTS, position
        if single_valued(new.attribute):
            return Relation.CONTRADICTS, position
        return Relation.UNRELATED, position
    a, b = polar(new.content), polar(old.content)
    if a is not None and b is not None and a[0] == b[0]:
        position = f"statement:{'not ' if b[1] else ''}{' '.join(b[0])}"
        return (Relation.SUPPORTS if a[1] == b[1] else Relation.CONTRADICTS), position
    if _norm(new.content) == _norm(old.content):
        return Relation.SUPPORTS, f"statement:{_norm(old.content)}"
    return Relation.UNRELATED, f"memory:{old.content}"


def judge_by_rules(new: Statement, witnesses: Sequence[Witness[K]]) -> list[Judged[K]]:
    out = []
    for w in witnesses:
        rel, position = relation(new, w.statement)
        out.append(Judged(w, rel, position))
    return out


# --- the ruling -----------------------------------------------------------------------------


def _groups(against: Sequence[Judged[K]]) -> list[list[Judged[K]]]:
    """Contradicting witnesses grouped by what they assert (slot values that agree, or refine
    each other, are one position)."""
    groups: list[tuple[Judged[K], list[Judged[K]]]] = []
    for j in against:
        for head, members in groups:
            if _same_position(head, j):
                members.append(j)
                break
        else:
            groups.append((j, [j]))
    return [members for _, members in groups]


def _same_position(a: Judged[K], b: Judged[K]) -> bool:
    sa, sb = a.witness.statement, b.witness.statement
    if a.position.startswith("slot:") and b.position.startswith("slot:"):
        return sa.attribute == sb.attribute and agrees(sa.value, sb.value)
    return a.position == b.position


def _statements(members: Sequence[Judged[K]]) -> int:
    return len(set().union(*(j.witness.sources for j in members)))


def rule(
    new_trust: int, judged: Sequence[Judged[K]], *, min_consensus: int = MIN_CONSENSUS
) -> Ruling[K]:
    """Quarantine or not, and why: `judged` are the related memories with their relation to
    the new memory (only those more trusted than `new_trust` count)."""
    higher = [j for j in judged if j.witness.trust > new_trust]
    against = tuple(j for j in higher if j.relation is Relation.CONTRADICTS)
    if not against:
        return Ruling(False, "no more trusted memory contradicts it")
    supporters = [j for j in higher if j.relation is Relation.SUPPORTS]
    if supporters:
        return Ruling(
            False,
            f"contradicts {len(against)} more trusted memories, but "
            f"{len(supporters)} agree with it",
            contradicted=against,
        )
    consensus: list[Judged[K]] = []
    best = 0
    for members in _groups(against):
        statements = _statements(members)
        best = max(best, statements)
        if statements >= min_consensus or any(j.witness.trust >= TOP for j in members):
            consensus.extend(members)
    if not consensus:
        return Ruling(
            False,
            f"contradicts more trusted memories without a consensus ({best} statement(s); "
            f"{min_consensus} needed)",
            contradicted=against,
        )
    return Ruling(True, describe(new_trust, consensus), against, tuple(consensus))


def describe(new_trust: int, consensus: Sequence[Judged[K]]) -> str:
    """The reason recorded with a quarantine."""
    parts = [
        f"{j.witness.key} ({trust_name(j.witness.trust)}, "
        f"{len(j.witness.sources)} statement(s), {j.by})"
        for j in consensus
    ]
    return (
        f"contradicts a consensus of more trusted memories "
        f"(this one: {trust_name(new_trust)}): " + "; ".join(parts)
    )
