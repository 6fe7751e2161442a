"""The LLM layer: structured calls through litellm, with repair, retries and a fallback.

Every call names a pydantic schema for its output. The reply is parsed leniently
(memsvc.algorithms.jsonrepair: code fences, prose around the object, trailing commas, single
quotes) and validated against the schema; an invalid reply is answered with a short corrective
message, up to `llm_max_retries` times; after that, or on an error the model cannot fix
(authentication, unknown model, bad request), the caller's deterministic fallback is used. With
no model configured the fallback runs at once and litellm is never imported.

`import litellm` costs ~5 s and ~170 MB, so it happens inside the first call only; the API and
the worker start without it. LITELLM_LOCAL_MODEL_COST_MAP is set first so the import never
reaches for the network.

Tests drive the real litellm code path with its `mock_response` argument:
`LLM(settings, mock_responses=["not json", '{"a": 1}'])` answers successive attempts with
those replies (an Exception instance makes that attempt raise it).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from memsvc.algorithms.jsonrepair import extract_json_object
from memsvc.config import Settings

if TYPE_CHECKING:  # pragma: no cover
    from types import ModuleType

log = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)

Source = Literal["llm", "fallback"]
MockReply = str | Exception

# Errors that another attempt cannot fix: fall back at once.
_FATAL_ERRORS = ("AuthenticationError", "NotFoundError", "BadRequestError", "PermissionDeniedError")
_MAX_ERROR_CHARS = 400


@dataclasses.dataclass(frozen=True)
class UsageRecord:
    """What one `structured` call cost (all attempts together)."""

    task: str
    model: str
    source: Source
    attempts: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None  # None: the model's price is unknown


class UsageSink(Protocol):
    """Where usage goes (memsvc.services.usage.DatabaseUsageSink records it per tenant/cube)."""

    async def record(self, usage: UsageRecord) -> None: ...


@dataclasses.dataclass(frozen=True)
class LLMResult(Generic[T]):
    """The outcome of a structured call: the value, where it came from, and what it cost."""

    value: T
    source: Source
    attempts: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    cost_known: bool = True
    fallback_reason: str | None = None
    model: str | None = None
    errors: tuple[str, ...] = ()


def _litellm() -> ModuleType:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    return litellm


def _short(text: str, limit: int = _MAX_ERROR_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _validation_summary(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error.get("loc", ())) or "(root)"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts)


def schema_instruction(schema: type[BaseModel]) -> str:
    return (
        "Reply with one JSON object only (no prose, no Markdown) that matches this JSON schema:\n"
        + json.dumps(schema.model_json_schema(), separators=(",", ":"))
    )


def with_schema_instruction(
    prompt: list[dict[str, Any]], schema: type[BaseModel]
) -> list[dict[str, Any]]:
    """The prompt with the JSON instruction in its system message (one system message only:
    some local models' chat templates refuse a second one)."""
    instruction = schema_instruction(schema)
    if prompt and prompt[0].get("role") == "system" and isinstance(prompt[0].get("content"), str):
        first = {**prompt[0], "content": f"{prompt[0]['content']}\n\n{instruction}"}
        return [first, *prompt[1:]]
    return [{"role": "system", "content": instruction}, *prompt]


class LLM:
    """One configured model (or none). Cheap to build: nothing is imported until a call."""

    def __init__(self, settings: Settings, *, mock_responses: Sequence[MockReply] | None = None):
        self.settings = settings
        self.model = settings.llm_model
        self._mock_responses = list(mock_responses) if mock_responses is not None else None
        self._mock_index = 0
        self._resolved: tuple[str, str | None, bool] | None = None
        self._lock = asyncio.Lock()

    @property
    def configured(self) -> bool:
        return bool(self.model)

    # --- litellm details ----------------------------------------------------------------
    async def _resolve(self, litellm: Any) -> tuple[str, str | None, bool]:
        """The model string litellm gets, the API base, and whether `response_format`
        json_object is passed.

        `llm_model` may be a litellm model string, or the base URL of an OpenAI-compatible
        server (`http://localhost:11434/v1`: Ollama, vLLM, llama.cpp ...), whose first model
        (GET {base}/models) is used. With an API base, a model name litellm cannot place
        (`llama3.1`, `Qwen/Qwen2.5-7B-Instruct`) goes through its OpenAI-compatible client.
        """
        if self._resolved is not None:
            return self._resolved
        model = str(self.model)
        api_base = self.settings.llm_api_base
        if model.startswith(("http://", "https://")):
            api_base = model.rstrip("/")
            model = await self._served_model(api_base)
        provider: str | None = None
        try:
            _, provider, _, _ = litellm.get_llm_provider(model)
        except Exception:
            provider = None
        if api_base and provider is None:
            model, provider = f"openai/{model}", "openai"
        json_mode = False
        try:
            params = litellm.get_supported_openai_params(model=model, custom_llm_provider=provider)
            json_mode = bool(params) and "response_format" in params
        except Exception:
            json_mode = False
        self._resolved = (model, api_base, json_mode)
        return self._resolved

    async def _served_model(self, api_base: str) -> str:
        """The first model an OpenAI-compatible server lists (raises when it lists none)."""
        import httpx

        headers = {}
        if self.settings.llm_api_key_value:
            headers["Authorization"] = f"Bearer {self.settings.llm_api_key_value}"
        async with httpx.AsyncClient(timeout=self.settings.llm_timeout_s) as client:
            response = await client.get(f"{api_base}/models", headers=headers)
            response.raise_for_status()
            models = [m["id"] for m in response.json().get("data", []) if m.get("id")]
        if not models:
            raise RuntimeError(f"{api_base}/models lists no model")
        return str(models[0])

    def _next_mock(self) -> MockReply | None:
        if self._mock_responses is None:
            return None
        if not self._mock_responses:
            return ""
        # past the end, the last reply repeats
        reply = self._mock_responses[min(self._mock_index, len(self._mock_responses) - 1)]
        self._mock_index += 1
        return reply

    @staticmethod
    def _cost(litellm: Any, response: Any) -> float | None:
        try:
            cost = litellm.completion_cost(completion_response=response)
        except Exception:
            return None
        return float(cost) if cost is not None else None

    async def _complete(
        self,
        litellm: Any,
        model: str,
        api_base: str | None,
        json_mode: bool,
        messages: list[dict[str, Any]],
    ) -> Any:
        kwargs: dict[str, Any] = {
            "model": model,
            "messages": messages,
            "temperature": self.settings.llm_temperature,
            "timeout": self.settings.llm_timeout_s,
            "num_retries": 0,  # retries are ours: each one carries a corrective message
        }
        if api_base:
            kwargs["api_base"] = api_base
        api_key = self.settings.llm_api_key_value
        if api_key:
            kwargs["api_key"] = api_key
        if json_mode:
            kwargs["response_format"] = {"type": "json_object"}
        if self._mock_responses is not None:
            async with self._lock:
                kwargs["mock_response"] = self._next_mock()
        return await litellm.acompletion(**kwargs)

    # --- the one entry point ------------------------------------------------------------
    async def structured(
        self,
        *,
        prompt: list[dict[str, Any]],
        schema: type[T],
        task: str,
        fallback: Callable[[], T],
        usage_sink: UsageSink | None = None,
    ) -> LLMResult[T]:
        """Ask the model for a `schema` object; fall back to `fallback()` when it cannot give one.

        `prompt` is a chat message list; an instruction with the JSON schema is added as a
        system message. Every call with a configured model is reported to `usage_sink` (tokens
        of all attempts, cost, and whether the fallback was used); a failing sink is logged,
        never raised.
        """
        if not self.configured:
            return LLMResult(value=fallback(), source="fallback", fallback_reason="no_model")

        litellm = _litellm()
        try:
            model, api_base, json_mode = await self._resolve(litellm)
        except Exception as exc:
            log.warning("LLM %s unusable for task %s: %s", self.model, task, exc)
            return LLMResult(
                value=fallback(),
                source="fallback",
                fallback_reason="llm_error",
                model=self.model,
                errors=(f"{type(exc).__name__}: {_short(str(exc))}",),
            )
        messages = with_schema_instruction(prompt, schema)
        attempts = prompt_tokens = completion_tokens = 0
        cost = 0.0
        cost_known = True
        errors: list[str] = []
        value: T | None = None
        reason: str | None = None

        for attempt in range(self.settings.llm_max_retries + 1):
            attempts = attempt + 1
            try:
                response = await self._complete(litellm, model, api_base, json_mode, messages)
            except Exception as exc:
                kind = type(exc).__name__
                errors.append(f"{kind}: {_short(str(exc))}")
                reason = "llm_error"
                if kind in _FATAL_ERRORS:
                    break
                continue
            usage = getattr(response, "usage", None)
            prompt_tokens += int(getattr(usage, "prompt_tokens", 0) or 0)
            completion_tokens += int(getattr(usage, "completion_tokens", 0) or 0)
            call_cost = self._cost(litellm, response)
            if call_cost is None:
                cost_known = False
            else:
                cost += call_cost
            try:
                content = response.choices[0].message.content or ""
            except (AttributeError, IndexError):
                content = ""
            data = extract_json_object(content)
            if data is None:
                problem = "the reply contained no JSON object"
                reason = "invalid_json"
            else:
                try:
                    value = schema.model_validate(data)
                    break
                except ValidationError as exc:
                    problem = (
                        f"the JSON object does not match the schema: {_validation_summary(exc)}"
                    )
                    reason = "schema_mismatch"
            errors.append(problem)
            messages = [
                *messages,
                {"role": "assistant", "content": content},
                {
                    "role": "user",
                    "content": f"That reply was invalid: {problem}. Reply again with only the "
                    "corrected JSON object, matching the schema.",
                },
            ]

        if value is None:
            log.warning(
                "LLM task %s fell back after %d attempt(s): %s", task, attempts, errors[-1:]
            )
        result: LLMResult[T] = LLMResult(
            value=value if value is not None else fallback(),
            source="llm" if value is not None else "fallback",
            attempts=attempts,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=cost,
            cost_known=cost_known,
            fallback_reason=None if value is not None else reason,
            model=model,
            errors=tuple(errors),
        )
        if usage_sink is not None:
            record = UsageRecord(
                task=task,
                model=model,
                source=result.source,
                attempts=attempts,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                cost_usd=cost if cost_known else None,
            )
            try:
                await usage_sink.record(record)
            except Exception:
                log.exception("could not record LLM usage of task %s", task)
        return result
