"""Checks ``bench.metrics.fid.compute_fid`` against pytorch-fid and torch-fidelity on the same files.

The reference packages need torchvision, which does not import beside the project's CPU torch, so
they run in a separate virtual environment whose python is passed as ``--ref-python``; this file
re-runs itself there (``--worker``) and reads back JSON. Steps:

1. a random checkpoint with the official key names and shapes, built from pytorch-fid's own
   model classes; batch-norm statistics are calibrated on drawn images so that activations stay
   in a sane range through all 94 conv layers (skipped when ``--weights`` is given);
2. three folders of deterministic PIL drawings: ``real`` and ``near`` follow the same drawing rules
   at 352x320 (resized down), ``far`` has shifted colours at 128x96 (resized up);
3. for real against near and against far, each protocol and each feature width: the reference's
   FID, ours, and their relative difference.

Exit status is 1 when any relative difference exceeds ``--tolerance`` (default 1e-3).

Reference environment::

    python3.11 -m venv /work/venvs/fidref
    /work/venvs/fidref/bin/pip install torch==2.14.1 torchvision==0.29.1 pytorch-fid torch-fidelity

Run::

    .venv/bin/python benchmarks/fid_reference_check.py --ref-python /work/venvs/fidref/bin/python
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DIMS = (64, 192, 768, 2048)
PROTOCOLS = ("pytorch-fid", "torch-fidelity")
WEIGHTS_NAME = "pt_inception-2015-12-05-6726825d.pth"


def draw_image(rng: random.Random, width: int, height: int, palette_shift: int):
    """A deterministic drawing: gradient background, shapes, lines and a short text."""
    from PIL import Image, ImageDraw

    def colour() -> tuple[int, int, int]:
        return tuple((rng.randrange(256) + palette_shift) % 256 for _ in range(3))

    start, end = colour(), colour()
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    for y in range(height):
        t = y / max(1, height - 1)
        draw.line([(0, y), (width, y)], fill=tuple(int(a + (b - a) * t) for a, b in zip(start, end, strict=True)))
    for _ in range(rng.randint(3, 9)):
        x0, y0 = rng.randrange(width), rng.randrange(height)
        x1, y1 = x0 + rng.randint(4, width // 2), y0 + rng.randint(4, height // 2)
        shape = rng.choice(("ellipse", "rectangle", "line", "polygon"))
        if shape == "ellipse":
            draw.ellipse([x0, y0, x1, y1], fill=colour(), outline=colour())
        elif shape == "rectangle":
            draw.rectangle([x0, y0, x1, y1], fill=colour())
        elif shape == "line":
            draw.line([x0, y0, x1, y1], fill=colour(), width=rng.randint(1, 6))
        else:
            draw.polygon([(rng.randrange(width), rng.randrange(height)) for _ in range(5)], fill=colour())
    text = "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(rng.randint(3, 8)))
    draw.text((rng.randrange(width // 2), rng.randrange(height // 2)), text, fill=colour())
    return image


def write_image_set(folder: Path, count: int, width: int, height: int, seed: int, palette_shift: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    for index in range(count):
        draw_image(rng, width, height, palette_shift).save(folder / f"{index:03d}.png")


# ----------------------------------------------------------------------------- reference side


def _worker_make_weights(out: Path) -> dict:
    """Random checkpoint in the official layout, from pytorch-fid's model (torchvision + FID blocks)."""
    import numpy as np
    import torch
    import torchvision
    from pytorch_fid import inception as ref

    torch.manual_seed(20151205)
    net = torchvision.models.inception_v3(num_classes=1008, aux_logits=False, weights=None, init_weights=False)
    net.Mixed_5b = ref.FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = ref.FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = ref.FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = ref.FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = ref.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = ref.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = ref.FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = ref.FIDInceptionE_1(1280)
    net.Mixed_7c = ref.FIDInceptionE_2(2048)

    for module in net.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
        elif isinstance(module, torch.nn.BatchNorm2d):
            torch.nn.init.uniform_(module.weight, 0.6, 1.4)
            torch.nn.init.normal_(module.bias, 0.0, 0.2)
            module.reset_running_stats()
            module.momentum = None  # cumulative average: the running stats become the batch's stats
        elif isinstance(module, torch.nn.Linear):
            torch.nn.init.normal_(module.weight, 0.0, 0.01)
            torch.nn.init.zeros_(module.bias)

    rng = random.Random(7)
    calibration = [draw_image(rng, 299, 299, palette_shift=rng.randrange(256)) for _ in range(24)]
    pixels = torch.from_numpy(np.stack([np.asarray(image) for image in calibration])).permute(0, 3, 1, 2)
    batch = pixels.float() / 127.5 - 1
    with torch.no_grad():
        net.train()
        net(batch)
        net.eval()
        trunk = torch.nn.Sequential(*list(net.children())[:-2])  # up to the final average pool
        features = trunk(batch).flatten(1)

    state = {k: v.detach().clone() for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(state, out)
    return {
        "keys": len(state),
        "feature_mean": float(features.mean()),
        "feature_std_across_images": float(features.std(dim=0).mean()),
    }


def _worker_pytorch_fid(real: Path, generated: Path, weights: Path, dims: list[int]) -> dict:
    """pytorch-fid's ``calculate_fid_given_paths``; the checkpoint is found in torch hub's cache as if downloaded."""
    import os

    hub = Path(tempfile.mkdtemp()) / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / WEIGHTS_NAME).symlink_to(weights.resolve())
    os.environ["TORCH_HOME"] = str(hub.parent.parent)
    from pytorch_fid.fid_score import calculate_fid_given_paths

    return {
        str(d): float(calculate_fid_given_paths([str(real), str(generated)], 50, "cpu", d, num_workers=0)) for d in dims
    }


def _worker_torch_fidelity(real: Path, generated: Path, weights: Path, dims: list[int]) -> dict:
    import torch_fidelity

    out = {}
    for d in dims:
        metrics = torch_fidelity.calculate_metrics(
            input1=str(real),
            input2=str(generated),
            fid=True,
            cuda=False,
            feature_layer_fid=str(d),
            feature_extractor_weights_path=str(weights),
            cache=False,
            save_cpu_ram=True,
            verbose=False,
        )
        out[str(d)] = float(metrics["frechet_inception_distance"])
    return out


def _run_worker(args: argparse.Namespace) -> None:
    task, out = args.worker, Path(args.worker_out)
    if task == "make-weights":
        result = _worker_make_weights(Path(args.weights))
    else:
        run = _worker_pytorch_fid if task == "pytorch-fid" else _worker_torch_fidelity
        result = run(Path(args.real), Path(args.generated), Path(args.weights), args.dims)
    out.write_text(json.dumps(result))


# ----------------------------------------------------------------------------- project side


def _call_reference(ref_python: str, task: str, workdir: Path, options: list[str]) -> dict:
    out = workdir / f"{task}.json"
    command = [ref_python, str(Path(__file__).resolve()), "--worker", task, "--worker-out", str(out), *options]
    log = workdir / f"{task}.log"
    with log.open("w") as sink:
        if subprocess.run(command, stdout=sink, stderr=subprocess.STDOUT).returncode != 0:
            raise SystemExit(f"reference worker {task} failed:\n{log.read_text()[-4000:]}")
    return json.loads(out.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ref-python", help="python of the venv holding pytorch-fid and torch-fidelity")
    parser.add_argument("--workdir", type=Path, help="where images, weights and results go (default: a temp dir)")
    parser.add_argument("--weights", help="checkpoint to use instead of a random one")
    parser.add_argument("--images", type=int, default=40, help="images per folder")
    parser.add_argument("--dims", type=int, nargs="+", default=list(DIMS))
    parser.add_argument("--protocols", nargs="+", default=list(PROTOCOLS), choices=PROTOCOLS)
    parser.add_argument("--tolerance", type=float, default=1e-3)
    parser.add_argument("--worker", choices=("make-weights", *PROTOCOLS), help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", help=argparse.SUPPRESS)
    parser.add_argument("--real", help=argparse.SUPPRESS)
    parser.add_argument("--generated", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        _run_worker(args)
        return 0
    if not args.ref_python:
        parser.error("--ref-python is required")

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench.metrics.fid import compute_fid

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="fid-check-"))
    workdir.mkdir(parents=True, exist_ok=True)
    weights = Path(args.weights) if args.weights else workdir / WEIGHTS_NAME
    if not args.weights:
        info = _call_reference(args.ref_python, "make-weights", workdir, ["--weights", str(weights)])
        print(f"random checkpoint {weights}: {info}")

    real = workdir / "real"
    write_image_set(real, args.images, width=352, height=320, seed=1, palette_shift=0)
    others = {"near": workdir / "near", "far": workdir / "far"}
    write_image_set(others["near"], args.images, width=352, height=320, seed=3, palette_shift=0)
    write_image_set(others["far"], args.images, width=128, height=96, seed=2, palette_shift=40)
    print(f"{args.images} images per folder: real and near 352x320 (same drawing rules), far 128x96 (shifted colours)")

    worst = 0.0
    print(f"{'pair':<10}{'protocol':<15}{'dims':>6}{'reference':>18}{'thbench':>18}{'rel. diff':>11}{'ours s':>8}")
    for pair, generated in others.items():
        for protocol in args.protocols:
            options = ["--real", str(real), "--generated", str(generated), "--weights", str(weights)]
            reference = _call_reference(args.ref_python, protocol, workdir, [*options, "--dims", *map(str, args.dims)])
            for d in args.dims:
                started = time.perf_counter()
                ours = compute_fid(real, generated, weights, protocol=protocol, dims=d)
                seconds = time.perf_counter() - started
                ref_value = reference[str(d)]
                rel = abs(ours - ref_value) / abs(ref_value)
                worst = max(worst, rel)
                print(f"{pair:<10}{protocol:<15}{d:>6}{ref_value:>18.10g}{ours:>18.10g}{rel:>11.2e}{seconds:>8.1f}")
    print(f"worst relative difference {worst:.2e} (tolerance {args.tolerance:g})")
    return 0 if worst <= args.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
