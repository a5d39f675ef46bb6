"""Check ``tgdoc/reference.json`` against TGDoc's own released code (github:harrytea/TGDoc).

``make_fixture.py`` records the TGDoc case with the LLaVA repository's model code; this script
loads the same checkpoint with TGDoc's loader (``TGDoc.py``: ``TGDocLlamaForCausalLM``, its
vision modules, ``load_state_dict`` of the whole checkpoint) in the transformers it names
(4.31.0, tokenizers 0.13.3), builds the prompt and image as its ``generate`` does, and compares
ids, first-step logits and greedy tokens::

    python check_tgdoc_release.py --tgdoc-repo /path/to/TGDoc --fixture tests/model_adapters/llava

``timm`` (imported only by TGDoc's EVA tower, which this checkpoint does not use) is replaced
by an empty module. TGDoc's ``generate`` casts the pixels to float16 for its float16 model; on
CPU in float32 that cast is left out, as the reference was made in float32.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import types
from pathlib import Path

import torch
from PIL import Image


def stub_timm() -> None:
    import transformers  # noqa: F401  (it probes for timm at import; the stub comes after)

    for name in ("timm", "timm.models", "timm.models.layers", "timm.models.hub"):
        module = types.ModuleType(name)
        module.drop_path = module.to_2tuple = module.trunc_normal_ = None
        sys.modules[name] = module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tgdoc-repo", type=Path, required=True)
    parser.add_argument("--fixture", type=Path, required=True)
    args = parser.parse_args()
    args.fixture = args.fixture.resolve()
    case = args.fixture / "tgdoc"
    reference = json.loads((case / "reference.json").read_text())
    stub_timm()
    sys.path.insert(0, str(args.tgdoc_repo))
    from TGDoc import IMAGE_TOKEN_INDEX, TGDoc
    from tgdoc.conversation import conv_templates
    from tgdoc.mm_utils import tokenizer_image_token

    config = json.loads((case / "checkpoint" / "config.json").read_text())
    with tempfile.TemporaryDirectory() as scratch:
        # TGDoc's tower builder accepts names starting with "openai"; the name resolves to the folder.
        os.chdir(scratch)
        tower = Path(scratch) / config["mm_vision_tower"]
        tower.parent.mkdir(parents=True)
        tower.symlink_to(case / "clip")
        model = TGDoc(model_path=str(case / "checkpoint"), device="cpu", dtype=torch.float32)
        question = reference["prompt"].split("<img><image></img>\n", 1)[1].removesuffix(" ASSISTANT:")
        conv = conv_templates["v1"].copy()
        conv.append_message(conv.roles[0], "<img><image></img>\n" + question)
        conv.append_message(conv.roles[1], None)
        prompt = conv.get_prompt()
        input_ids = tokenizer_image_token(prompt, model.tokenizer, IMAGE_TOKEN_INDEX).unsqueeze(0)
        image = Image.open(args.fixture / "image.png").convert("RGB")
        side = model.image_processor.crop_size["height"]
        pixels = model.image_processor.preprocess(image.resize((side, side), Image.LANCZOS), return_tensors="pt")["pixel_values"]
        with torch.inference_mode():
            logits = model.model(input_ids=input_ids, images=pixels).logits[0, -1]
            generated = model.model.generate(input_ids=input_ids, images=pixels, do_sample=False,
                                             max_new_tokens=len(reference["greedy_tokens"]))
    released = torch.tensor(reference["first_step_logits"])
    report = {
        "prompt_equal": prompt == reference["prompt"],
        "ids_equal": input_ids[0].tolist() == reference["input_ids"],
        "pixels_max_difference": float((pixels[0] - torch.tensor(reference["pixel_values"])).abs().max()),
        "logits_max_relative_difference": float((logits - released).abs().max() / released.abs().max()),
        "greedy_equal": generated[0, input_ids.shape[1]:].tolist() == reference["greedy_tokens"],
        "greedy_tokens": generated[0, input_ids.shape[1]:].tolist(),
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
