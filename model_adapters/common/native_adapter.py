"""What the adapters of the models thbench re-implements share: the release folder checked
when the adapter is built (files, config, device), then the tokenizer and the model read from
it on the resolved device and dtype at load.

Nothing here imports torch at module level: plugin discovery imports every adapter module.
"""

from __future__ import annotations

from abc import abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Sequence

from bench.adapter import ModelAdapter
from bench.types import AnswerRequest, RequestKind
from model_adapters.common.folders import require_model_folder
from model_adapters.common.torch_options import AcceleratorDtype, check_device, resolve_device, resolve_dtype

if TYPE_CHECKING:
    import torch


class NativeAnswerAdapter(ModelAdapter):
    """Options must have ``model``, ``device``, ``dtype`` and ``max_new_tokens``."""

    supported_kinds = frozenset({RequestKind.ANSWER})
    checkpoint_option = "model"
    #: Files the release folder must hold, and how errors describe such a folder.
    required_files: ClassVar[tuple[str, ...]]
    folder_layout: ClassVar[str]
    #: What ``dtype=auto`` means on a GPU: the dtype the release runs in.
    accelerator_dtype: ClassVar[AcceleratorDtype] = "bfloat16"
    #: The package that re-implements the model, named in the manifest.
    implementation: ClassVar[str]

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        self.check_folder(require_model_folder(self.options.model, self.name, self.required_files, self.folder_layout))
        check_device(self.options.device)
        self._model: Any = None
        self._tokenizer: Any = None
        self._device: Any = None
        self._dtype: Any = None

    @abstractmethod
    def check_folder(self, folder: Path) -> None:
        """Refuses a folder of another model (by its ``config.json``) before any load."""

    @abstractmethod
    def read(self, folder: Path, dtype: "torch.dtype", device: "torch.device") -> tuple[Any, Any]:
        """The folder's tokenizer and model, refused when they do not belong together."""

    def load(self) -> None:
        self._device = resolve_device(self.options.device)
        self._dtype = resolve_dtype(self.options.dtype, self._device, accelerator_default=self.accelerator_dtype)
        self._tokenizer, self._model = self.read(self.options.model, self._dtype, self._device)

    def describe(self) -> dict[str, Any]:
        return {
            "device": str(self._device),
            "dtype": str(self._dtype).removeprefix("torch."),
            "implementation": f"thbench native ({self.implementation})",
        }

    def token_limits(self, requests: Sequence[AnswerRequest]) -> list[int]:
        """Each request's ``max_new_tokens``, or the option's when it is set."""
        return [self.options.max_new_tokens or request.max_new_tokens for request in requests]
