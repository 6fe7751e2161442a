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
