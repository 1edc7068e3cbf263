"""Export and serving: the HF-to-GGUF converter and its shim, GGUF checks (chat template and stop tokens),
the quant ladder, llama.cpp's OpenAI-compatible server, the Ollama Modelfile and the model card.

May import: ``specialize.runtime`` and ``specialize.evaluation``.
"""
