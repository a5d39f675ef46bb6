"""The Qwen-VL family (Monkey, TextMonkey) re-implemented in plain PyTorch, reading released
folders as published.

One file per part: ``config`` (``config.json``, which variant the folder is), ``tokenizer``
(``qwen.tiktoken`` and the special tokens), ``images`` (resizing, normalising, sliding windows),
``visual`` (Monkey's ViT with per-window LoRA and the resampler), ``text_visual`` (TextMonkey's
encoder over the whole image), ``shifted_windows`` (its attention across windows),
``token_resampler`` (its similarity-based token filter), ``llm`` (the Qwen decoder with its KV
cache), ``model`` (decoder and encoder joined, weights loaded), ``generation`` (batched greedy
decoding). The adapters that wire them to thbench requests are ``model_adapters.monkey`` and
``model_adapters.textmonkey``.
"""
