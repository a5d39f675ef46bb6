"""Facts about the software and machine a run used, for its invocation record.

Gathered without side effects that cost time on every resume: the git commit is read from the
repository's files (no subprocess), and torch is described only when something already
imported it (an adapter that loaded a model), never imported for this.
"""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

PACKAGES = ("torch", "transformers", "diffusers", "peft", "torchmetrics", "rapidocr", "onnxruntime", "numpy", "Pillow")


def thbench_version() -> str:
    try:
        return importlib.metadata.version("thbench")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def git_commit(source: Path | None = None) -> str | None:
    """Commit checked out in the thbench source tree, read from ``.git`` (``HEAD``, a loose
    ref or ``packed-refs``); ``None`` outside a checkout."""
    root = source or Path(__file__).resolve().parent.parent
    git_dir = root / ".git"
    try:
        if git_dir.is_file():  # a worktree: "gitdir: <path>"
            git_dir = (root / git_dir.read_text().split(":", 1)[1].strip()).resolve()
        head = (git_dir / "HEAD").read_text().strip()
    except OSError:
        return None
    if not head.startswith("ref:"):
        return head or None
    ref = head.split(":", 1)[1].strip()
    for folder in (git_dir, _common_dir(git_dir)):
        try:
            return (folder / ref).read_text().strip()
        except OSError:
            pass
        try:
            for line in (folder / "packed-refs").read_text().splitlines():
                if line.endswith(f" {ref}"):
                    return line.split()[0]
        except OSError:
            pass
    return None


def worktree_dirty(source: Path | None = None) -> bool | None:
    """Whether tracked files of the source tree have local changes. Runs git, so the runner
    asks only when a model is loaded anyway (the seconds do not matter then)."""
    root = source or Path(__file__).resolve().parent.parent
    try:
        result = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return bool(result.stdout.strip())


def _common_dir(git_dir: Path) -> Path:
    try:
        return (git_dir / (git_dir / "commondir").read_text().strip()).resolve()
    except OSError:
        return git_dir


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def device_description() -> dict[str, Any]:
    description: dict[str, Any] = {"platform": platform.platform(), "processor": platform.machine()}
    torch = sys.modules.get("torch")
    if torch is None:
        return description
    description["cpu_threads"] = torch.get_num_threads()
    description["cuda"] = torch.cuda.is_available()
    if description["cuda"]:
        description["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        description["cuda_version"] = torch.version.cuda
    return description


def environment() -> dict[str, Any]:
    return {
        "thbench": thbench_version(),
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "packages": package_versions(),
        "device": device_description(),
    }
