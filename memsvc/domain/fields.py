"""Per-type `fields` schemas (MIRIX §5.1): each memory type validates its own fields.

Every field is optional (agents fill what they know) and unknown keys are refused so typos do
not silently vanish. The knowledge vault's `secret_value` is validated here but never stored in
`fields`: the memories service encrypts it into its own column (memsvc.security.vault).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from memsvc.domain.types import MemoryType
from memsvc.errors import InvalidRequest

_Text = Field(default=None, max_length=20_000)


class _Fields(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CoreFields(_Fields):
    label: Literal["human", "persona"] | None = None
    limit: int | None = Field(default=None, ge=1, le=5000)


class EpisodicFields(_Fields):
    event_type: str | None = Field(default=None, max_length=200)
    summary: str | None = _Text
    details: str | None = _Text
    actor: str | None = Field(default=None, max_length=200)


class SemanticFields(_Fields):
    name: str | None = Field(default=None, max_length=500)
    summary: str | None = _Text
    details: str | None = _Text
    source: str | None = Field(default=None, max_length=500)
    # A TiM thought is a relation between two entities: `name` is its head, these the rest.
    relation: str | None = Field(default=None, max_length=200)
    tail: str | None = Field(default=None, max_length=500)


class ProceduralFields(_Fields):
    entry_type: Literal["workflow", "guide", "script"] | None = None
    summary: str | None = _Text
    steps: list[str] | None = Field(default=None, max_length=500)


class ResourceFields(_Fields):
    title: str | None = Field(default=None, max_length=1000)
    summary: str | None = _Text
    resource_type: str | None = Field(default=None, max_length=100)
    uri: str | None = Field(default=None, max_length=4000)


class KnowledgeVaultFields(_Fields):
    entry_type: str | None = Field(default=None, max_length=100)
    source: str | None = Field(default=None, max_length=500)
    sensitivity: Literal["low", "medium", "high"] | None = None
    caption: str | None = Field(default=None, max_length=2000)
    # Write-only: encrypted at rest, shown only on GET with reveal=true and the secrets scope.
    secret_value: str | None = Field(default=None, min_length=1, max_length=10_000)


FIELD_SCHEMAS: dict[MemoryType, type[_Fields]] = {
    MemoryType.CORE: CoreFields,
    MemoryType.EPISODIC: EpisodicFields,
    MemoryType.SEMANTIC: SemanticFields,
    MemoryType.PROCEDURAL: ProceduralFields,
    MemoryType.RESOURCE: ResourceFields,
    MemoryType.KNOWLEDGE_VAULT: KnowledgeVaultFields,
}


SECRET_FIELD = "secret_value"


def validate_fields(memory_type: MemoryType, fields: dict[str, Any] | None) -> dict[str, Any]:
    """Return the type's fields, normalised, or raise InvalidRequest naming what is wrong."""
    schema = FIELD_SCHEMAS[memory_type]
    try:
        return schema.model_validate(fields or {}).model_dump(exclude_none=True)
    except ValidationError as exc:
        problems = [
            {"field": ".".join(str(p) for p in err["loc"]), "message": err["msg"]}
            for err in exc.errors(include_url=False, include_input=False)
        ]
        raise InvalidRequest(
            f"invalid fields for memory_type {memory_type.value!r}",
            code="invalid_fields",
            details=problems,
        ) from None
