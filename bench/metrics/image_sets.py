"""Set-level scores of generated images, shared by the text-to-image tasks: FID and CLIPScore.

Neither has a per-sample form, so they are computed once per run from the stored image files
(``Task.set_metrics``). A score that cannot be computed (no FID weights, no reference images,
fewer than two images) is reported as ``"n/a"`` with the reason, never estimated.

FID statistics are kept per group of files and added up, so a reference folder is read once
even when several generated sets (one per seed, one per subset, their unions) are compared with
it. The sums are the accumulators of ``bench.metrics.fid.InceptionFID`` (float64 sums of
features and of their outer products), so any union of groups scores exactly as if its files had
been fed at once.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from bench.cache import cache_root
from bench.fingerprint import file_signature, stable_hash
from bench.images import open_image

if TYPE_CHECKING:
    import torch

    from bench.metrics.fid import FidProtocol

NOT_COMPUTED = "n/a"
CLIP_BATCH = 32


def not_computed(reason: str, **details: Any) -> dict[str, Any]:
    return {"value": NOT_COMPUTED, "reason": reason, **details}


class FidGroups:
    """Inception statistics of named groups of image files, each computed once."""

    def __init__(self, weights_path: Path | None, protocol: FidProtocol = "pytorch-fid", dims: int = 2048,
                 device: str = "cpu") -> None:
        from bench.metrics.fid import InceptionFID, protocol_spec

        self.device = device
        self.metric = InceptionFID(weights_path, protocol, dims).to(device)  # raises FidWeightsMissing
        protocol_spec(protocol)  # an unknown protocol is refused before any image is read
        self.protocol = protocol
        self._groups: dict[str, dict[str, Any]] = {}

    def add(self, name: str, files: Sequence[Path]) -> int:
        """Read ``files`` through the network; returns how many there were."""
        from bench.metrics.fid import fid_image_batches

        self.metric.reset()
        with exact_float32():
            for batch in fid_image_batches(files, self.protocol):
                self.metric.update(batch.to(self.device), real=True)
        self._groups[name] = {
            key: _tensor(value).cpu().clone() for key, value in self.metric.metric_state.items() if key.startswith("real_")
        }
        return len(files)

    def add_folder(self, name: str, folder: Path) -> int:
        """A reference folder's statistics, read from the cache when the same files went
        through the same network before: AnyText's reference holds 40,000 images."""
        import torch

        from bench.metrics.fid import list_fid_images

        files = list_fid_images(folder, self.protocol)
        key = stable_hash([
            [(str(path.relative_to(folder)), path.stat().st_size) for path in files],
            self.protocol, self.metric.dims, file_signature(self.metric.weights_path),
        ])
        cached = cache_root() / "fid-stats" / f"{key}.pt"
        if cached.is_file():
            self._groups[name] = torch.load(cached, weights_only=True)
            return len(files)
        count = self.add(name, files)
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(".tmp")
        torch.save(self._groups[name], partial)
        partial.replace(cached)
        return count

    def count(self, names: Iterable[str]) -> int:
        return sum(int(self._groups[name]["real_features_num_samples"]) for name in names)

    def fid(self, reference: Iterable[str], generated: Iterable[str]) -> float:
        """FID between the union of the ``reference`` groups and the union of the ``generated`` ones."""
        import torch

        self.metric.reset()
        state = {key: torch.zeros_like(_tensor(value)).cpu() for key, value in self.metric.metric_state.items()}
        for prefix, names in (("real_", list(reference)), ("fake_", list(generated))):
            for name in names:
                for key, value in self._groups[name].items():
                    state[prefix + key.removeprefix("real_")] = state[prefix + key.removeprefix("real_")] + value
        self.metric.merge_state({key: value.to(self.device) for key, value in state.items()})
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*compute.*before.*update.*")
            return float(self.metric.compute())

    def describe(self) -> dict[str, Any]:
        return self.metric.describe()


def open_fid_groups(weights_path: Path | None, protocol: str, dims: int, device: str = "cpu") -> FidGroups | dict[str, Any]:
    """The accumulator, or the ``n/a`` entry that says which weights file is missing."""
    from bench.metrics.fid_weights import FidWeightsMissing, resolve_fid_weights

    try:
        weights_path = resolve_fid_weights(weights_path)  # before torch and torchmetrics are imported
        return FidGroups(weights_path, cast("FidProtocol", protocol), dims, device)  # protocol_spec refuses unknown names
    except FidWeightsMissing as missing:
        return not_computed(str(missing))


def clip_pair_scores(
    clip_dir: Path, files: Sequence[Path], texts: Sequence[str], weight: float, device: str = "cpu"
) -> list[float]:
    """``weight * max(cos, 0)`` of every (image file, text) pair, in order."""
    from bench.metrics.clipscore import clip_scores, load_clip

    model, processor = load_clip(clip_dir)
    model = model.to(device)  # type: ignore[arg-type]  # transformers' stub types .to() for a PreTrainedModel receiver
    scores: list[float] = []
    with exact_float32():
        for start in range(0, len(files), CLIP_BATCH):
            images = [open_image(path) for path in files[start : start + CLIP_BATCH]]
            batch = clip_scores(model, processor, images, list(texts[start : start + CLIP_BATCH]), weight)
            scores.extend(float(value) for value in batch)
    return scores


@contextmanager
def exact_float32() -> Iterator[None]:
    """Full float32 arithmetic on a GPU: TensorFloat-32 (on by default for convolutions) keeps
    10 mantissa bits and would move FID and CLIPScore away from their CPU values."""
    import torch

    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def clip_prefix(prefix: str) -> str:
    """The text put before each prompt: MARIO-Eval's CLIPScore puts a space after its prefix
    when the prefix lacks one (an empty prefix stays empty)."""
    return prefix if not prefix or prefix.endswith(" ") else prefix + " "


def clip_description(clip_dir: Path, weight: float, prefix: str) -> dict[str, Any]:
    return {
        "model": Path(clip_dir).name,
        "weight": weight,
        "prefix": prefix,
        "formula": f"mean over pairs of {weight:g} * max(cos(image, {prefix!r} + prompt), 0)",
    }


def mean(values: Sequence[float]) -> float:
    return float(sum(values) / len(values))


def _tensor(value: Any) -> "torch.Tensor":
    """A torchmetrics state entry: a tensor for the sums FID keeps (a list only for list states)."""
    import torch

    if not isinstance(value, torch.Tensor):
        raise TypeError(f"expected a tensor state, got {type(value).__name__}")
    return value
