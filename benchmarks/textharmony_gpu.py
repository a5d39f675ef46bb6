"""Throughput of TextHarmony's code paths on one device, with random weights.

Builds the mid-size configuration (or the tiny one with ``--tiny``) in bfloat16, then times
greedy answering (generated tokens per second of the whole call, image encoding and prompt
included, over a batch of image questions) and image generation (images/s), and reports peak
device memory. Random weights make the numbers a measure of the code, not of
answer quality; decoding runs the full ``--new-tokens`` because stop tokens are masked out.

    python benchmarks/textharmony_gpu.py                       # GPU, mid size
    python benchmarks/textharmony_gpu.py --device cpu --tiny   # smoke test
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model_adapters.textharmony import GREEDY, ImageSampling, TextHarmonyPipeline, build_model  # noqa: E402
from model_adapters.textharmony.deformable_attention import has_compiled_kernel  # noqa: E402
from model_adapters.textharmony.prompts import vqa_prompt  # noqa: E402
from model_adapters.textharmony.tokenizer import ByteTokenizer  # noqa: E402

DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(device: torch.device, fn):
    synchronize(device)
    start = time.perf_counter()
    result = fn()
    synchronize(device)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="toy configuration (seconds on a CPU)")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="bfloat16")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--images", type=int, default=4, help="images generated per timing run")
    parser.add_argument("--steps", type=int, default=30, help="denoising steps per image")
    args = parser.parse_args()

    device = torch.device(args.device)
    dtype = DTYPES[args.dtype]
    model = build_model("tiny" if args.tiny else "mid", device=device, dtype=dtype)
    tokens = model.config.tokens
    with torch.no_grad():  # random weights: keep decoding going for the full length
        model.text_decoder.head.bias[[tokens.eos, tokens.begin_of_image]] = -1e4
    pipeline = TextHarmonyPipeline(
        model,
        ByteTokenizer(tokens),
        text_profile=GREEDY.with_max_new_tokens(args.new_tokens),
        image_settings=ImageSampling(num_inference_steps=args.steps),
    )
    generator = torch.Generator().manual_seed(0)
    size = model.config.vision.image_size
    prompts = [
        vqa_prompt(f"what is written on sign number {i}?", torch.rand(3, size, size, generator=generator))
        for i in range(args.batch_size)
    ]
    captions = [f'a shop sign that says "OPEN {i}"' for i in range(args.images)]
    seeds = [[42 + i] for i in range(args.images)]

    pipeline.answer(prompts[:1], 2)  # warm-up (kernels, allocator)
    pipeline.generate_images(captions[:1], [[0]])
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    _, answer_s = timed(device, lambda: pipeline.answer(prompts))
    _, image_s = timed(device, lambda: pipeline.generate_images(captions, seeds))

    report = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "config": model.config.name,
        "dtype": args.dtype,
        "parameters_millions": round(sum(p.numel() for p in model.parameters()) / 1e6, 1),
        "compiled_deformable_kernel": has_compiled_kernel(),
        "answer": {
            "batch_size": args.batch_size,
            "new_tokens_per_sample": args.new_tokens,
            "seconds": round(answer_s, 3),
            "tokens_per_second": round(args.batch_size * args.new_tokens / answer_s, 1),
        },
        "generate_image": {
            "images": args.images,
            "steps": args.steps,
            "seconds": round(image_s, 3),
            "images_per_second": round(args.images / image_s, 3),
        },
    }
    if device.type == "cuda":
        report["peak_memory_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
