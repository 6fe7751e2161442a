"""MemoryBank forgetting curve (Zhong et al. 2024): R = exp(-Δt / (τ·S)).

Δt is the time since the memory was last recalled (or created), in days; S is its strength
(1 at creation, +1 per recall); τ sets the time scale in days.
"""

from __future__ import annotations

import math
from datetime import datetime


def retention(elapsed_days: float, strength: float, tau_days: float = 1.0) -> float:
    if elapsed_days <= 0:
        return 1.0
    return math.exp(-elapsed_days / (tau_days * max(strength, 1e-9)))


def elapsed_days(since: datetime, now: datetime) -> float:
    return max((now - since).total_seconds(), 0.0) / 86_400.0


def forgotten(
    strength: float, since: datetime, now: datetime, *, tau_days: float, threshold: float
) -> float | None:
    """The retention of a memory the sweep should archive (below `threshold`), else None."""
    value = retention(elapsed_days(since, now), strength, tau_days)
    return value if value < threshold else None


def days_until_forgotten(strength: float, *, tau_days: float, threshold: float) -> float:
    """How long an unrecalled memory of this strength stays above `threshold`:
    R < θ  ⇔  Δt > τ·S·ln(1/θ)."""
    if threshold <= 0:
        return math.inf
    if threshold >= 1:
        return 0.0
    return tau_days * strength * math.log(1.0 / threshold)
