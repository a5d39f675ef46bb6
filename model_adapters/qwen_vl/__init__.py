"""The Qwen-VL family (Monkey) re-implemented in plain PyTorch, reading released folders as published.

One file per part: ``config`` (``config.json``), ``tokenizer`` (``qwen.tiktoken`` and the
special tokens), ``images`` (resizing, normalising, sliding windows), ``visual`` (the ViT with
per-window LoRA and the resampler), ``llm`` (the Qwen decoder with its KV cache), ``model``
(the two joined, weights loaded), ``generation`` (batched greedy decoding). The adapter that
wires them to thbench requests is ``model_adapters.monkey``.
"""
