"""A tiny random Llama with a small byte-level BPE tokenizer and a ChatML template.

Fast stand-in for a real causal LM in tests of the activation tier: the cache arithmetic,
file format, fingerprints and prefix rules are the same for any Llama; only the words are
nonsense. (One test also runs the real SmolLM2.)
"""

from __future__ import annotations

from pathlib import Path

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
CORPUS = [
    "The user likes green tea and lives in Leeds with a cat called Miso.",
    "Alice moved to York last spring; she plays chess on Tuesdays.",
    "Memories: core memory, episodic events, semantic facts, procedures and resources.",
    "You are a helpful assistant with a long-term memory. What you remember is below.",
    "- (2026-01-02) Bob went hiking in the Lake District and saw a red kite.",
    "What does the user like to drink? Where does Alice live now? 0123456789",
]


def make_tiny_lm(path: Path, *, seed: int = 0, layers: int = 2) -> Path:
    """Write a tiny random Llama (and its tokenizer) to `path`; return it."""
    if (path / "config.json").exists():
        return path
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    bpe.train_from_iterator(CORPUS, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
    )
    tokenizer.chat_template = CHATML
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    model.save_pretrained(str(path))
    tokenizer.save_pretrained(str(path))
    return path
