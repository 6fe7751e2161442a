"""What the LLM-path tests share: an LLM answering with litellm's `mock_response` replies, one
with no model configured, and a usage sink that keeps records in memory."""

from __future__ import annotations

from typing import Any

from memsvc.config import Settings
from memsvc.models.llm import LLM, UsageRecord

MODEL = "gpt-4o-mini"  # in litellm's local cost map: the cost is known and > 0


class MemorySink:
    def __init__(self) -> None:
        self.records: list[UsageRecord] = []

    async def record(self, usage: UsageRecord) -> None:
        self.records.append(usage)


def mock_llm(test_settings: Settings, replies: list[Any]) -> LLM:
    """An LLM whose calls get `replies` in order (the list is copied at construction)."""
    values = {"llm_model": MODEL, "llm_max_retries": 2}
    return LLM(test_settings.model_copy(update=values), mock_responses=replies)


def no_model(test_settings: Settings) -> LLM:
    llm = LLM(test_settings.model_copy(update={"llm_model": None}))
    assert not llm.configured
    return llm
