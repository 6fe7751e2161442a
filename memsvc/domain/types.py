"""Enumerations of the MemCube model (MIRIX memory types, lifecycle, change kinds, scopes)."""

from __future__ import annotations

from enum import StrEnum


class MemoryType(StrEnum):
    """MIRIX memory types."""

    CORE = "core"
    EPISODIC = "episodic"
    SEMANTIC = "semantic"
    PROCEDURAL = "procedural"
    RESOURCE = "resource"
    KNOWLEDGE_VAULT = "knowledge_vault"


class Status(StrEnum):
    PENDING = "pending"  # stored and searchable; background enrichment not finished
    ACTIVE = "active"
    ARCHIVED = "archived"  # forgotten or retired; restorable, out of default search
    MERGED = "merged"  # folded into another memory; lineage kept
    DELETED = "deleted"  # soft-deleted; restorable
    # Contradicts a consensus of more trusted memories (memory-poisoning defense): stored, out
    # of default search and listings, until an admin releases or rejects it.
    QUARANTINED = "quarantined"


# Statuses a default search looks at: a memory is searchable as soon as it is stored.
SEARCHABLE_STATUSES: tuple[Status, ...] = (Status.ACTIVE, Status.PENDING)
# Statuses a default listing shows: everything but soft-deleted memories.
LISTED_STATUSES: tuple[Status, ...] = (
    Status.ACTIVE,
    Status.PENDING,
    Status.ARCHIVED,
    Status.MERGED,
)


class ChangeKind(StrEnum):
    """What produced a version of a memory (the contract's list plus create/delete)."""

    CREATE = "create"
    USER_UPDATE = "user_update"
    MERGE = "merge"
    EVOLUTION = "evolution"
    ENRICHMENT = "enrichment"  # the memory's own note (keywords, tags, context) was built
    FORGETTING = "forgetting"
    CONSOLIDATION = "consolidation"
    RESTORE = "restore"
    DELETE = "delete"
    # Conversation ingestion (POST /messages with infer): what a newly stated fact did to it.
    REINFORCE = "reinforce"  # stated again: strength + 1, the message joins its provenance
    INFERRED_UPDATE = "inferred_update"  # restated more precisely: a new version of it
    SUPERSEDE = "supersede"  # replaced by a newer fact: valid_to set, kept for as_of
    # Memory-poisoning defense (memsvc.services.quarantine).
    QUARANTINE = "quarantine"  # contradicts more trusted memories: set aside, with the reason
    RELEASE = "release"  # an admin judged it sound: active again


class Scope(StrEnum):
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"
    SECRETS = "secrets"


class TimeUse(StrEnum):
    """What search does with a time expression in the query ("last week", "in May 2023")."""

    AUTO = "auto"  # favour memories that happened then (a boost on occurred_at)
    FILTER = "filter"  # only memories that happened then
    OFF = "off"  # ignore it


class SearchMode(StrEnum):
    HYBRID = "hybrid"
    DENSE = "dense"
    LEXICAL = "lexical"
    GRAPH = "graph"


# Status changes a client may ask for through PATCH, and the change kind each records.
ALLOWED_STATUS_CHANGES: dict[tuple[Status, Status], ChangeKind] = {
    (Status.ACTIVE, Status.ARCHIVED): ChangeKind.USER_UPDATE,
    (Status.PENDING, Status.ARCHIVED): ChangeKind.USER_UPDATE,
    (Status.ARCHIVED, Status.ACTIVE): ChangeKind.RESTORE,
    (Status.DELETED, Status.ACTIVE): ChangeKind.RESTORE,
    (Status.MERGED, Status.ACTIVE): ChangeKind.RESTORE,
}


class FusionMethod(StrEnum):
    """How `hybrid` combines its signals (see memsvc.algorithms.fusion)."""

    CALIBRATED = "calibrated"  # BM25 / max(best, query bound) + min-max dense (the default)
    MINMAX = "minmax"  # min-max normalise both lists
    RRF = "rrf"  # reciprocal-rank fusion, k = 60
