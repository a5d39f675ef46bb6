"""Inference-time routings of the Slide-LoRA experts, for ablating what the routing buys.

The release sends every sample to its task's expert group plus the shared group, the two
weighted equally and summing to one (image generation and editing -> image group, anything
else -> text group; the last group is shared). Each mode below keeps that rule, equal weights
over the chosen groups summing to one, and changes only which groups are chosen, so that a
difference between modes comes from the experts and not from a larger or smaller total LoRA
update:

* ``routed``: the release (chosen by the prompt).
* ``text`` / ``image``: every request gets the weights the release gives a text / an image
  request, whatever it asks for; answers under ``text`` and images under ``image`` are
  therefore exactly those of ``routed``.
* ``shared``: the shared group alone.
* ``uniform``: every expert, equally.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, get_args

from .config import SlideLoRAConfig

if TYPE_CHECKING:  # torch is imported when a gate is built, not when the adapters are listed
    from .slide_lora import GatePolicy

GateMode = Literal["routed", "shared", "text", "image", "uniform"]
GATE_MODES: tuple[str, ...] = get_args(GateMode)

#: The release's route that each single-modality mode forces.
_FORCED_ROUTES = {"text": "text", "image": "image_generation"}


def gate_policy(mode: str, lora: SlideLoRAConfig | None) -> "GatePolicy":
    """The gate of ``mode`` over ``lora``'s experts; a model without Slide-LoRA (``None``)
    takes an empty weight row per sample and only the ``routed`` mode, which changes nothing."""
    from .slide_lora import FixedGate, PromptRoutedGate

    if lora is None:
        if mode != "routed":
            raise ValueError(f"gate={mode} needs Slide-LoRA experts, and this model has none")
        return FixedGate(())
    routed = PromptRoutedGate(num_experts=lora.num_experts, experts_per_task=lora.experts_per_task)
    if mode == "routed":
        return routed
    if mode in _FORCED_ROUTES:
        names = [name for name, _ in routed.routes]
        weights = routed.weights_for_task(names.index(_FORCED_ROUTES[mode]))
        return FixedGate(tuple(float(w) for w in weights))
    if mode == "shared":
        task_experts = lora.num_experts - lora.experts_per_task
        return FixedGate((0.0,) * task_experts + (1.0 / lora.experts_per_task,) * lora.experts_per_task)
    if mode == "uniform":
        return FixedGate((1.0 / lora.num_experts,) * lora.num_experts)
    raise ValueError(f"unknown Slide-LoRA gate {mode!r}; choose one of {', '.join(GATE_MODES)}")
