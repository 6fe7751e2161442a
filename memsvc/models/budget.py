"""Which loaded models to unload so a new one fits the memory budget (pure; no I/O)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Resident:
    """A loaded model as the budget sees it."""

    name: str
    bytes: int
    last_used: float
    pinned: bool  # never unloaded (the embedder: every write needs it)


def plan_eviction(residents: list[Resident], incoming: int, budget: int) -> list[str] | None:
    """Names to unload, least recently used first, so `incoming` more bytes fit in `budget`.

    None when it cannot fit even after unloading everything that may be unloaded; [] when it
    already fits.
    """
    used = sum(r.bytes for r in residents)
    if used + incoming <= budget:
        return []
    victims: list[str] = []
    for resident in sorted(residents, key=lambda r: r.last_used):
        if resident.pinned:
            continue
        victims.append(resident.name)
        used -= resident.bytes
        if used + incoming <= budget:
            return victims
    return None
