"""Code shared by the adapters that load third-party models from local folders: device and
dtype options, folder and remote-code checks, diffusers pipeline loading, per-image generators,
text-position masks, prompts split at their image marks and request images.

Nothing here imports torch at module level: plugin discovery imports every adapter module.
"""
