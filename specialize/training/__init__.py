"""Training internals behind the train_qlora / train_dpo tools: recipe, data, method, workers, scale-out."""
