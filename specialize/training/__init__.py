"""Training internals behind the train_qlora / train_dpo tools: base-model resolution, recipe, data, method,
the SFT and DPO workers, and scale-out through ``accelerate launch``.

May import: ``specialize.runtime``.
"""
