"""How far a memory is trusted, from where it came (memory-poisoning defense, after A-MemGuard).

Every memory carries a trust level, fixed when it is written (and recorded in every version):

====  ============  ===================================================================
3     ``system``    the operator's word: role ``system`` / ``developer`` messages, items
                    whose ``source`` is ``system`` (``admin``, ``operator``, ``policy``),
                    core blocks (``memory_type: core``) unless their source says otherwise
2     ``user``      the user's own statements: role ``user`` messages and what is inferred
                    from them, items sent with ``infer: true`` (read as the user's
                    statement), items whose ``source`` is ``user`` (``human``)
1     ``agent``     the agent's own output: role ``assistant`` messages, items without a
                    recognised source, what memsvc derives (summaries, thoughts, portraits)
0     ``external``  content from outside the conversation: role ``tool`` / ``function``
                    messages, items whose ``source`` is ``tool``, ``web``, ``file``,
                    ``retrieved``, ``email``, ``document``, ``api``, ...
====  ============  ===================================================================

A ``source`` is matched on its first word, so ``web:https://example.com`` and ``tool/search``
count as ``web`` and ``tool``; an unrecognised source (``conversation``, ``crm``) gives the
path's default (``agent``, or ``user`` for an item read as the user's statement).

**The key's level.** A key may write at most its own level: the admin key and tenant keys with
the ``admin`` scope ``system`` (3), every other key ``user`` (2). A provenance above the key's
level is lowered to it (a ``system`` message sent with an ordinary key is a ``user``
statement); a trust asked for explicitly (``trust`` on an item or in a PATCH, ``max_trust`` on a
conversation) above it is refused (403 ``trust_not_allowed``). Below it, an explicit trust is
the client's own statement and replaces what the provenance would give. A content change by a
key lowers the memory's trust to that key's level when it is above it: a lower key cannot put
its words in a more trusted memory. So a client may lower, never raise, what its key is
entitled to.

Pure: no I/O; the services apply it (memsvc.services.memories, ingest, quarantine).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import IntEnum


class Trust(IntEnum):
    EXTERNAL = 0
    AGENT = 1
    USER = 2
    SYSTEM = 3


TOP = Trust.SYSTEM
LEVELS = tuple(Trust)
NAMES = {level: level.name.lower() for level in Trust}

# The first word of a `source`, and the level it gives.
SOURCE_WORDS: dict[str, Trust] = {
    **dict.fromkeys(("system", "admin", "operator", "developer", "policy"), Trust.SYSTEM),
    **dict.fromkeys(("user", "human", "self"), Trust.USER),
    **dict.fromkeys(
        ("agent", "assistant", "ai", "bot", "model", "llm", "memsvc", "thought", "reflection"),
        Trust.AGENT,
    ),
    **dict.fromkeys(
        (
            "tool",
            "function",
            "web",
            "www",
            "http",
            "https",
            "url",
            "browser",
            "search",
            "retrieved",
            "retrieval",
            "rag",
            "external",
            "file",
            "document",
            "doc",
            "pdf",
            "email",
            "mail",
            "api",
            "plugin",
            "scrape",
            "scraper",
            "import",
            "feed",
            "rss",
        ),
        Trust.EXTERNAL,
    ),
}

ROLE_TRUST: dict[str, Trust] = {
    "system": Trust.SYSTEM,
    "developer": Trust.SYSTEM,
    "user": Trust.USER,
    "human": Trust.USER,
    "assistant": Trust.AGENT,
    "ai": Trust.AGENT,
    "bot": Trust.AGENT,
    "tool": Trust.EXTERNAL,
    "function": Trust.EXTERNAL,
}

_FIRST_WORD = re.compile(r"[a-z]+")


def name(level: int) -> str:
    """`system`, `user`, `agent` or `external`."""
    return NAMES[Trust(level)]


def from_source(source: str | None) -> Trust | None:
    """The level a `source` names (its first word), or None when it names none we know."""
    if not source:
        return None
    match = _FIRST_WORD.match(source.strip().casefold())
    return SOURCE_WORDS.get(match.group(0)) if match else None


def from_role(role: str) -> Trust:
    """A conversation message's level by its role (an unknown role: external)."""
    return ROLE_TRUST.get(role.strip().casefold(), Trust.EXTERNAL)


def derive(*, source: str | None, memory_type: str, default: Trust = Trust.AGENT) -> Trust:
    """An item's level from its provenance: a recognised source wins; else a core block is the
    operator's, anything else gets the path's default."""
    named = from_source(source)
    if named is not None:
        return named
    if memory_type == "core":
        return Trust.SYSTEM
    return default


def key_level(*, is_admin: bool, scopes: Iterable[str]) -> Trust:
    """The most a key may write: system for the admin key and `admin`-scoped keys, else user."""
    return Trust.SYSTEM if is_admin or "admin" in set(scopes) else Trust.USER


def allowed(requested: int | None, ceiling: int) -> bool:
    """An explicitly requested trust is allowed up to the key's level."""
    return requested is None or 0 <= requested <= ceiling


def resolve(derived: int, ceiling: int, requested: int | None = None) -> Trust:
    """The level a write gets: the explicit request (checked with `allowed` first), else the
    provenance's, never above the key's level."""
    wanted = derived if requested is None else requested
    return Trust(max(0, min(wanted, ceiling)))


def capped(levels: Iterable[int], cap: int | None) -> list[Trust]:
    """Each level, lowered to `cap` when given (a conversation's `max_trust`)."""
    return [Trust(level if cap is None else min(level, cap)) for level in levels]


def after_edit(current: int, ceiling: int) -> Trust:
    """A memory's level after a key of level `ceiling` changed its content."""
    return Trust(min(current, ceiling))
