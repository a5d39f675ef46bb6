"""Diffusers pipelines read from local folders: loaded the same way by every adapter built on
one, and described the same way in the manifest."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.options import OptionError
from model_adapters.common.torch_options import DtypeName, resolve_device, resolve_dtype

if TYPE_CHECKING:
    import torch


def load_local_pipeline(
    loader: Any, folder: Path, device: str, dtype: DtypeName, scheduler: str | None = None, **kwargs: Any
) -> tuple[Any, "torch.device", "torch.dtype"]:
    """(pipeline, device, dtype): ``loader.from_pretrained`` with nothing downloaded, float16 by
    default on an accelerator, the scheduler swapped when one is named, progress bars off."""
    resolved_device = resolve_device(device)
    resolved_dtype = resolve_dtype(dtype, resolved_device, accelerator_default="float16")
    pipeline = loader.from_pretrained(folder, local_files_only=True, dtype=resolved_dtype, **kwargs)
    if scheduler is not None:
        pipeline.scheduler = scheduler_class(scheduler).from_config(pipeline.scheduler.config)
    if hasattr(pipeline, "set_progress_bar_config"):
        pipeline.set_progress_bar_config(disable=True)
    return pipeline.to(resolved_device), resolved_device, resolved_dtype


def describe_pipeline(pipeline: Any, device: Any, dtype: Any) -> dict[str, str]:
    return {
        "device": str(device),
        "dtype": str(dtype).removeprefix("torch."),
        "pipeline_class": type(pipeline).__name__,
        "scheduler_class": type(getattr(pipeline, "scheduler", None)).__name__,
    }


def scheduler_class(name: str) -> type:
    """The diffusers scheduler class called ``name`` or ``name + "Scheduler"``."""
    import diffusers
    from diffusers import SchedulerMixin

    for candidate in (name, f"{name}Scheduler"):
        found = getattr(diffusers, candidate, None)
        if isinstance(found, type) and issubclass(found, SchedulerMixin):
            return found
    known = sorted(
        entry.removesuffix("Scheduler") for entry in dir(diffusers)
        if entry.endswith("Scheduler") and isinstance(getattr(diffusers, entry, None), type)
    )
    raise OptionError(f"unknown diffusers scheduler {name!r}; known: {', '.join(known)}")
