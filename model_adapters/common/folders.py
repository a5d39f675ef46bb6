"""Checks on a model folder, made when an adapter is built so that a wrong path or a missing
opt-in stops the run before any data is prepared or any weight is read."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from bench.options import OptionError


class ModelFolderError(FileNotFoundError):
    """The model folder is missing or lacks the files its loader reads."""


class RemoteCodeNotTrusted(OptionError):
    """The folder's own Python code would run, and the user has not allowed it."""


def require_model_folder(folder: Path | None, adapter: str, required: Sequence[str], layout: str) -> Path:
    """``folder`` must exist and hold every file in ``required``; ``layout`` tells how such a
    folder is produced (e.g. ``model.save_pretrained(path)``)."""
    if folder is None:
        raise OptionError(f"model {adapter!r} needs a local model folder: --model-args model=/path/to/folder ({layout})")
    if not folder.is_dir():
        raise ModelFolderError(f"model folder {folder} does not exist (model {adapter!r} reads {layout})")
    missing = [name for name in required if not (folder / name).is_file()]
    if missing:
        raise ModelFolderError(f"model folder {folder} has no {', '.join(missing)}; model {adapter!r} reads {layout}")
    return folder


def require_trusted_code(trusted: bool, adapter: str, code: Sequence[Path]) -> None:
    """Loading runs Python files shipped with the model; that is allowed only by an explicit
    ``trust_remote_code=true``, which the run manifest then records with the other options."""
    if trusted:
        return
    listed = ", ".join(str(path) for path in code) or "Python files in the model folder"
    raise RemoteCodeNotTrusted(
        f"model {adapter!r} runs the model's own Python code ({listed}) when it loads; read that code, then allow it "
        f"with --trust-remote-code (or --model-args trust_remote_code=true)"
    )


def python_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.py"))
