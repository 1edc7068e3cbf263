"""A tiny Llama-architecture chat model built from scratch for tests: no hub, no download.

A byte-level BPE tokenizer is trained with ``tokenizers`` on a small corpus, given ChatML special tokens
and a chat template, and paired with a randomly initialised 2-layer Llama. It loads with
``AutoModelForCausalLM.from_pretrained(path)`` like any hub model, trains in seconds on CPU, and converts to
GGUF with llama.cpp's converter.
"""

from __future__ import annotations

from pathlib import Path

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

_CORPUS = [
    "The invoice for my account was charged twice this month.",
    "I cannot log in to the dashboard after the password reset.",
    "The export button crashes the app with an error.",
    "Please add a dark mode to the mobile app.",
    "My package has not arrived and tracking shows no update.",
    "I want a refund for the annual plan.",
    '{"category": "billing", "priority": "high", "product": null, "needs_human": false}',
    '{"category": "bug_report", "priority": "normal", "product": "Mobile", "needs_human": true}',
    "hello world. the quick brown fox jumps over the lazy dog 0123456789 {}[]:,\"",
]


def build_tiny_model(path: Path, *, hidden: int = 64, layers: int = 2, vocab: int = 512, seed: int = 0) -> Path:
    """Write a tiny chat model (config, weights, tokenizer, chat template) to ``path`` and return it."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(_CORPUS * 20, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=None, eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>", unk_token=None)
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(path)

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(fast), hidden_size=hidden, intermediate_size=hidden * 2, num_hidden_layers=layers,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, rms_norm_eps=1e-5,
        tie_word_embeddings=True, bos_token_id=None, eos_token_id=fast.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=fast.convert_tokens_to_ids("<|endoftext|>"),
    )
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = config.eos_token_id
    model.generation_config.pad_token_id = config.pad_token_id
    model.save_pretrained(path)
    return path
