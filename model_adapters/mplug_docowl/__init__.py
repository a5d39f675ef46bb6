"""mPLUG-DocOwl 1.5 re-implemented in plain PyTorch, reading released folders as published.

One file per part: ``config`` (``config.json`` with its ``visual_config``), ``tokenizer`` (the
LLaMA sentencepiece model as the release's slow tokenizer uses it), ``images`` (shape-adaptive
cropping and the crop indicators of the prompt), ``visual`` (the mPLUG-Owl2 ViT and the
H-Reducer), ``llm`` (the modality-adaptive LLaMA with its KV cache), ``model`` (the parts
joined, weights loaded), ``generation`` (batched greedy decoding). The adapter that wires them
to thbench requests is ``model_adapters.docowl``.
"""
