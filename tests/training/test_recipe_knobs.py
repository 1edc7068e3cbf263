"""The recipe's CPU knobs: LoRA on the top layers only (backprop stops below them) and length-grouped batches."""

from __future__ import annotations

import pytest

from specialize.training.common import adapted_layers, common_args, lora_config
from specialize.training.method import resolve_method
from specialize.training.recipe import load_recipe


class _Cfg:
    num_hidden_layers = 6


def test_adapted_layers_are_the_last_n():
    assert adapted_layers(load_recipe(overrides={"lora_layers": 2}), _Cfg()) == [4, 5]
    assert adapted_layers(load_recipe(), _Cfg()) is None                      # default: every layer
    assert adapted_layers(load_recipe(overrides={"lora_layers": 6}), _Cfg()) is None  # all of them = every layer
    assert adapted_layers(load_recipe(overrides={"lora_layers": 60}), _Cfg()) is None


def _layers_differentiated(model_dir, lora_layers):
    import torch
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    recipe = load_recipe(overrides={"lora_layers": lora_layers})
    peft_model = get_peft_model(model, lora_config(recipe, model.config))
    trainable = [name for name, p in peft_model.named_parameters() if p.requires_grad]
    seen: dict[int, bool] = {}

    def hook(idx):
        def record(module, grad_in, grad_out):
            seen[idx] = True
        return record

    for i, layer in enumerate(peft_model.base_model.model.model.layers):
        layer.register_full_backward_hook(hook(i))
    ids = torch.randint(0, model.config.vocab_size, (2, 12))
    peft_model(input_ids=ids, labels=ids).loss.backward()
    return model.config.num_hidden_layers, trainable, seen


def test_top_layer_lora_trains_only_the_top_and_stops_backprop_there(tiny_model_dir):
    n, trainable, seen = _layers_differentiated(tiny_model_dir, 1)
    assert n >= 2
    assert trainable and all(f"layers.{n - 1}." in name and "lora_" in name for name in trainable), trainable
    assert seen.get(n - 1) is True          # the adapted layer is differentiated
    assert all(i not in seen for i in range(n - 1))  # nothing below it: the backward pass stopped there
    n_all, trainable_all, seen_all = _layers_differentiated(tiny_model_dir, None)  # control: every layer
    assert sorted(seen_all) == list(range(n_all)) and len(trainable_all) > len(trainable)


@pytest.mark.parametrize("flag,strategy", [(True, "group_by_length"), (False, "random")])
def test_group_by_length_picks_the_length_grouped_sampler(tmp_path, flag, strategy):
    recipe = load_recipe(overrides={"group_by_length": flag})
    args = common_args(recipe, resolve_method(recipe), tmp_path, has_eval=False)
    assert args["train_sampling_strategy"] == strategy


def test_length_buckets_cut_padding_and_reshuffle_each_epoch():
    import random

    from specialize.training.batching import LengthBucketSampler

    rnd = random.Random(1)
    lengths = [rnd.randint(40, 400) for _ in range(109)]
    sampler = LengthBucketSampler(lengths, 8, seed=3)
    seen = list(sampler)
    assert sorted(seen) == list(range(109))             # every row exactly once per epoch
    batches = [seen[i:i + 8] for i in range(0, 109, 8)]

    def padding(bs):  # padded tokens when each batch is padded to its longest row
        return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in bs)

    shuffled = list(range(109))
    random.Random(2).shuffle(shuffled)
    plain = [shuffled[i:i + 8] for i in range(0, 109, 8)]
    assert padding(batches) < 0.25 * padding(plain)      # sorted buckets: a fraction of random batches' padding
    # each batch is a run of neighbours in length order: laid end to end by their shortest row, the batches'
    # lengths are the whole sorted list
    runs = sorted((sorted(lengths[i] for i in b) for b in batches), key=lambda r: (r[0], r[-1]))
    assert [x for r in runs for x in r] == sorted(lengths)
    again = LengthBucketSampler(lengths, 8, seed=3)
    assert list(again) == seen                           # same seed and epoch: same order (a resume matches)
    again.set_epoch(1)
    assert list(again) != seen                           # next epoch: another batch order
