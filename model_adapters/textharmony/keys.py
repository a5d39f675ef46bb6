"""Where each part of the model sits in a state dict, in the release's key layout.

The checkpoint loader, the base-model mapping and the dtype rule all name parts by these
prefixes; spelling them once keeps a renamed part from being found by one and missed by another.
"""

from __future__ import annotations

#: The ViT of checkpoints saved without ``peft`` (and of MM-Interleaved, which has no ViT LoRA).
PLAIN_VIT_PREFIX = "visual_tokenizer.encoder."
#: The release's ViT, wrapped by ``peft`` for its LoRA.
PEFT_VIT_PREFIX = PLAIN_VIT_PREFIX + "base_model.model."
#: Vicuna with cross-attention and Slide-LoRA (``model.`` in a Hugging Face LLaMA).
LLM_PREFIX = "mm_decoder."
#: The text head (``lm_head`` in a Hugging Face LLaMA) and its rows for the image tokens.
TEXT_HEAD_PREFIX = "text_decoder."
#: SD2-base's UNet and VAE with the control branch, inside the image decoder.
DIFFUSION_PREFIX = "image_decoder.decoder."
#: The VAE, which decodes in float32 in the release whatever the rest of the model runs in.
VAE_PREFIX = DIFFUSION_PREFIX + "vae."


def canonical_key(name: str) -> str:
    """The release's (``peft``) key for ``name``; plain ViT keys are moved under ``base_model.model``.

    Both checkpoint keys and model keys are compared in this form, whichever layout each uses."""
    if name.startswith(PLAIN_VIT_PREFIX) and not name.startswith(PEFT_VIT_PREFIX):
        return PEFT_VIT_PREFIX + name[len(PLAIN_VIT_PREFIX) :]
    return name
