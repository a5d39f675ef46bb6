"""Peak host memory of loading a TextHarmony checkpoint, relative to the checkpoint's size.

Writes a random checkpoint of the mid-size configuration (about 2 GB in float32) in the
release's format (one ``torch.save`` file), as split parts and as sharded safetensors, then
loads each in a fresh process and reports its peak resident memory. The loader materialises
each tensor once, so the peak should stay near one copy of the weights (target: < 1.3x).

    python benchmarks/textharmony_load_memory.py [--dir /tmp/th-bench] [--keep]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PART_BYTES = 700 * 2**20


def rss_mib() -> float:
    """Current resident set size."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 2**20


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_checkpoint(folder: Path) -> None:
    import torch

    from model_adapters.textharmony import build_model, convert_checkpoint

    model = build_model("mid", device="cpu")
    single = folder / "single" / "pytorch_model.bin"
    single.parent.mkdir(parents=True)
    torch.save(model.state_dict(), single)
    del model
    parts = folder / "parts"
    parts.mkdir()
    with open(single, "rb") as source:
        for index in range(26 * 26):
            chunk = source.read(PART_BYTES)
            if not chunk:
                break
            suffix = chr(ord("a") + index // 26) + chr(ord("a") + index % 26)
            (parts / f"pytorch_model.bin{suffix}").write_bytes(chunk)
    convert_checkpoint(single, folder / "safetensors", shard_size="500MB")


def load_once(path: Path) -> dict[str, float]:
    import torch  # noqa: F401  (imported before the baseline so that it is not counted as loading)

    from model_adapters.textharmony import load_model

    baseline = rss_mib()
    start = time.perf_counter()
    model, report = load_model(path, "mid", device="cpu")
    seconds = time.perf_counter() - start
    weights = sum(t.numel() * t.element_size() for t in model.state_dict().values()) / 2**20
    return {"baseline_mib": baseline, "peak_mib": peak_rss_mib(), "seconds": seconds,
            "weights_mib": weights, "tensors": report.loaded}


def folder_mib(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=None, help="where to write the checkpoints (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the checkpoints afterwards")
    parser.add_argument("--load", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--write", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write:
        write_checkpoint(args.write)
        return
    if args.load:
        print(json.dumps(load_once(args.load)))
        return

    folder = args.dir or Path(tempfile.mkdtemp(prefix="textharmony-load-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run([sys.executable, __file__, "--write", str(folder)], check=True)
        layouts = {
            "single .bin": folder / "single" / "pytorch_model.bin",
            "split parts": folder / "parts" / "pytorch_model.bin",
            "safetensors shards": folder / "safetensors",
        }
        size = folder_mib(layouts["single .bin"])
        print(f"checkpoint: {size:,.0f} MiB (mid-size config, float32)")
        print(f"{'layout':<20}{'peak RSS MiB':>14}{'peak/size':>11}{'(peak-base)/size':>18}{'load s':>9}")
        for name, path in layouts.items():
            out = subprocess.run([sys.executable, __file__, "--load", str(path)], check=True,
                                 capture_output=True, text=True).stdout
            result = json.loads(out.strip().splitlines()[-1])
            ratio = result["peak_mib"] / size
            growth = (result["peak_mib"] - result["baseline_mib"]) / size
            print(f"{name:<20}{result['peak_mib']:>14,.0f}{ratio:>11.2f}{growth:>18.2f}{result['seconds']:>9.1f}")
    finally:
        if not args.keep and args.dir is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
