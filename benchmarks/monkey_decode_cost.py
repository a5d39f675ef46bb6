"""Cost of one decoding step of the native Monkey (or TextMonkey), with a short and with a long prompt.

With the KV cache a step feeds one token per row: the prompt and its images never run again, and
only the attention over the cached keys grows with the prompt. Goal: a step after a
~2,600-token prompt (two images) costs under 2% of that prompt's pass (a loop without the cache
pays at least the whole pass per token). The ratio of a step after the long prompt to one after a
~10-token prompt is printed too; on this toy model (128 wide, 2 layers) the attention over 2,600
cached keys is a visible part of a step, at Monkey's size (4096 wide, 32 layers) the weight
matrices dominate it. Measured on the released-layout fixture
``tests/model_adapters/qwen_vl/data/monkey_tiny`` on the CPU, one thread; ``--folder`` takes
another release folder (``textmonkey_tiny/model``: ~1,550-token long prompt).

Usage: ``python benchmarks/monkey_decode_cost.py [--steps 32] [--repeats 3] [--folder DIR]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from PIL import Image

from model_adapters.qwen_vl.generation import Prompt, greedy
from model_adapters.qwen_vl.model import MonkeyModel
from model_adapters.qwen_vl.tokenizer import QwenTokenizer, encode_with_images

FOLDER = Path(__file__).resolve().parent.parent / "tests" / "model_adapters" / "qwen_vl" / "data" / "monkey_tiny" / "model"


def seconds(model: MonkeyModel, prompt: Prompt, new_tokens: int, end_id: int, image_start: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        # min_new_tokens = new_tokens: every run decodes exactly that many steps
        greedy(model, [prompt], new_tokens, end_id, image_start, min_new_tokens=new_tokens)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--folder", type=Path, default=FOLDER, help="a Monkey or TextMonkey release folder")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = MonkeyModel.from_folder(args.folder, torch.float32, torch.device("cpu"))
    tokenizer = QwenTokenizer.from_folder(args.folder)
    ids = tokenizer.ids
    images = (Image.new("RGB", (120, 80), (200, 40, 40)), Image.effect_noise((90, 90), 50).convert("RGB"))
    prompts = {
        "short": Prompt(tuple(tokenizer.encode("What is the answer? Answer:"))),
        "long": Prompt(tuple(encode_with_images(tokenizer, [None, None, "Which is brighter? Answer:"], model.image_token_span)), images),
    }
    greedy(model, [prompts["short"]], 4, ids.end_of_text, ids.image_start)  # warm-up
    step, prefill = {}, {}
    for name, prompt in prompts.items():
        prefill[name] = seconds(model, prompt, 1, ids.end_of_text, ids.image_start, args.repeats)
        total = seconds(model, prompt, args.steps + 1, ids.end_of_text, ids.image_start, args.repeats)
        step[name] = (total - prefill[name]) / args.steps
        print(f"{name}: {len(prompt.ids)} prompt tokens, prompt pass {prefill[name] * 1e3:.1f} ms, one step {step[name] * 1e3:.2f} ms")
    share = step["long"] / prefill["long"]
    print(f"a step after the long prompt costs {share:.2%} of the prompt pass (goal < 2%)")
    print(f"step after the long prompt / after the short one: {step['long'] / step['short']:.2f}x")


if __name__ == "__main__":
    main()
