"""The operations of REST v1, one module per resource, each a mixin of `Endpoint`s."""

from __future__ import annotations

import uuid

Id = uuid.UUID | str
