"""Code shared by the adapters that load third-party models from local folders: device and
dtype options, folder and remote-code checks, diffusers pipeline loading, per-image generators,
text-position masks, prompts split at their image marks, request images and the base of the
adapters of re-implemented models, the shards an index file names (``weight_index``); and, for
those re-implementations, checkpoint reading, the KV cache, RMSNorm and the greedy decoding loop
(``checkpoints``, ``kv_cache``, ``norms``, ``greedy``).

Only those four import torch at module level, and no adapter imports them at module level:
plugin discovery imports every adapter module.
"""
