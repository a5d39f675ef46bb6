"""Cost of one decoding step of the native DocOwl 1.5 after a document prompt and after a
text-only one.

With the KV cache a step feeds one token per row; the crops (ViT, H-Reducer) and the prompt
never run again. Goal: a step after a 1,900-position prompt (a 2x3 grid and the global view,
seven crops of 257 positions, and the question) costs under 2% of that prompt's pass; a decoder
without the cache pays at least the whole pass per token. Measured on the released-layout fixture
``tests/model_adapters/docowl/data/docowl_tiny`` on the CPU, one thread; the end token is
disabled (``end_id=-1``) so that every run decodes exactly the steps asked for.

Usage: ``python benchmarks/docowl_decode_cost.py [--steps 32] [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from PIL import Image

from model_adapters.mplug_docowl.generation import IMAGE_INDEX, Prompt, greedy
from model_adapters.mplug_docowl.images import conversation, crop, user_turn
from model_adapters.mplug_docowl.model import DocOwlModel
from model_adapters.mplug_docowl.tokenizer import LlamaTokenizer, encode_prompt

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "model_adapters" / "docowl" / "data" / "docowl_tiny"


def best_of(repeats: int, run) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = DocOwlModel.from_folder(FIXTURE / "model", torch.float32, torch.device("cpu"))
    tokenizer = LlamaTokenizer.from_folder(FIXTURE / "model")
    crops = crop(Image.open(FIXTURE / "images" / "doc.png"), model.config.vision.image_size)
    document = conversation(user_turn([None, "What is the total amount?"], [crops]))
    prompts = {
        "document": Prompt(tuple(encode_prompt(tokenizer, document, IMAGE_INDEX)), (crops,)),
        "text": Prompt(tuple(encode_prompt(tokenizer, conversation("What is the total amount?"), IMAGE_INDEX))),
    }
    greedy(model, [prompts["text"]], 4, end_id=-1)  # warm-up
    steps: dict[str, float] = {}
    for name, prompt in prompts.items():
        prefill = best_of(args.repeats, lambda: greedy(model, [prompt], 1, end_id=-1))
        total = best_of(args.repeats, lambda: greedy(model, [prompt], args.steps + 1, end_id=-1))
        steps[name] = (total - prefill) / args.steps
        positions = len(prompt.ids) + sum(len(c.pixels) for c in prompt.crops) * (model.config.image_tokens - 1)
        print(f"{name}: {positions} prompt positions, prompt pass {prefill * 1e3:.1f} ms, one step {steps[name] * 1e3:.2f} ms")
        if name == "document":
            print(f"a step after the document prompt costs {steps[name] / prefill:.2%} of its prompt pass (goal < 2%)")
    print(f"step after the document prompt / after the text one: {steps['document'] / steps['text']:.2f}x")


if __name__ == "__main__":
    main()
