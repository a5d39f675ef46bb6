"""``thbench convert llava SRC DST --vision-tower CLIP_DIR``: an original-LLaVA-1.x checkpoint
(``LlavaLlamaForCausalLM``, e.g. TGDoc's release) -> a transformers ``LlavaForConditionalGeneration``
folder that the ``hf-vlm`` adapter reads.

The LLaVA repository saves the language model with the projector (``model.mm_projector.*``)
and names its CLIP vision tower by hub id; transformers' LLaVA holds all three and a processor.
What the released inference code does is reproduced, not approximated:

* projector: ``mlp2x_gelu`` is transformers' two linears with GELU; ``linear`` becomes the
  first linear followed by an identity activation and an identity matrix, which is exact;
* features: hidden state ``mm_vision_select_layer`` of the tower, without the CLS token for
  ``patch`` (strategy ``default``) or with it for ``cls_patch`` (``full``);
* image: the tower's CLIP preprocessing; ``image_aspect_ratio=pad`` pads to a square with the
  mean colour first (``expand2square``); TGDoc's loader instead resizes to the crop size with
  LANCZOS (``--preset tgdoc``);
* prompt: a chat template writing LLaVA's ``llava_v1`` conversation (TGDoc: ``vicuna_v1``, the
  same format with "user" for "human"), the image as ``<image>\\n`` before the text, wrapped in
  ``<img>…</img>`` when the checkpoint was trained with ``mm_use_im_start_end``;
* vocabulary: ``<image>`` is added as one token; its new embedding and output rows are zero
  and generation suppresses it, so no logit of the original vocabulary changes.

The output is written to a temporary sibling folder and renamed at the end: a failed
conversion leaves no ``DST``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

if TYPE_CHECKING:  # torch loads only when a conversion runs, not when plugins are listed
    import torch

logger = logging.getLogger(__name__)

IMAGE_TOKEN = "<image>"
SHARD_BYTES = 5 * 10**9
SYSTEMS = {
    "llava_v1": "A chat between a curious human and an artificial intelligence assistant. "
                "The assistant gives helpful, detailed, and polite answers to the human's questions.",
    "vicuna_v1": "A chat between a curious user and an artificial intelligence assistant. "
                 "The assistant gives helpful, detailed, and polite answers to the user's questions.",
}
#: Start/end marks the repositories put around the image when ``mm_use_im_start_end`` is set.
IMAGE_MARKS = {"llava": ("<im_start>", "<im_end>"), "tgdoc": ("<img>", "</img>")}
#: Config keys of the LLaVA wrapper that the language model's config does not need.
_LLAVA_ONLY_KEYS = re.compile(r"^(mm_|image_|tune_|freeze_|use_mm_proj|unfreeze_|tokenizer_|pretrain_|s2)")
#: Tensors older transformers saved that later ones recompute.
_RECOMPUTED = re.compile(r"\.rotary_emb\.inv_freq$")
_PIL_LANCZOS = 1


class ConversionError(ValueError):
    """The source cannot be represented as a transformers LLaVA; the message says why."""


@dataclass(frozen=True)
class Preset:
    """What differs between releases in the LLaVA format: conversation and image resizing."""

    name: str
    conversation: str
    squash_resize: bool


PRESETS = {
    "llava": Preset("llava", "llava_v1", squash_resize=False),
    "tgdoc": Preset("tgdoc", "vicuna_v1", squash_resize=True),
}


def detect_preset(config: dict[str, Any]) -> str:
    names = " ".join([str(config.get("model_type", "")), *map(str, config.get("architectures") or [])]).lower()
    return "tgdoc" if "tgdoc" in names else "llava"


def convert_llava(src: "str | Path", dst: "str | Path", vision_tower: "str | Path", preset: str | None = None,
                  dtype: torch.dtype | None = None) -> Path:
    """Write the transformers folder ``dst``; returns it."""
    src, dst, vision_tower = Path(src), Path(dst), Path(vision_tower)
    if dst.exists() and (not dst.is_dir() or any(dst.iterdir())):
        raise FileExistsError(f"{dst} exists and is not an empty folder; choose a new folder for the converted model")
    for folder, what in ((src, "LLaVA checkpoint"), (vision_tower, "CLIP vision tower")):
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(f"{folder} is not a {what} folder (no config.json)")
    source_config = json.loads((src / "config.json").read_text(encoding="utf-8"))
    chosen = PRESETS[preset or detect_preset(source_config)]
    partial = dst.with_name(f".{dst.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        _write(src, partial, vision_tower, source_config, chosen, dtype)
        if dst.exists():
            dst.rmdir()
        os.replace(partial, dst)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return dst


def _write(src: Path, dst: Path, tower_dir: Path, source_config: dict[str, Any], preset: Preset,
           dtype: torch.dtype | None) -> None:
    from transformers import AutoTokenizer, CLIPVisionConfig

    _refuse_unsupported(source_config)
    tower_config = CLIPVisionConfig.from_pretrained(tower_dir, local_files_only=True)
    if tower_config.hidden_size != source_config["mm_hidden_size"]:
        raise ConversionError(
            f"{tower_dir} has hidden size {tower_config.hidden_size} but {src} was trained on a tower of "
            f"{source_config['mm_hidden_size']} (mm_vision_tower={source_config['mm_vision_tower']!r}); "
            "pass the CLIP folder the checkpoint names"
        )
    tokenizer = AutoTokenizer.from_pretrained(src, local_files_only=True)
    if source_config.get("mm_use_im_start_end"):
        # Both repositories' loaders add the marks when the saved tokenizer lacks them.
        tokenizer.add_tokens(list(IMAGE_MARKS[preset.name]), special_tokens=True)
    tokenizer.add_tokens([IMAGE_TOKEN], special_tokens=True)
    image_token_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    vocab_size = max(source_config["vocab_size"], image_token_id + 1)
    config = _llava_config(source_config, tower_config, image_token_id, vocab_size)
    tensors = dict(_language_and_projector(src, source_config, vocab_size))
    tensors.update(_tower_tensors(tower_dir, src))
    if dtype is not None:
        tensors = {name: tensor.to(dtype) if tensor.is_floating_point() else tensor for name, tensor in tensors.items()}
    _check_against_model(config, tensors)
    _save_tensors(tensors, dst)
    config.save_pretrained(dst)
    _generation_config(src, config, image_token_id).save_pretrained(dst)
    _processor(tower_dir, tokenizer, source_config, tower_config, preset).save_pretrained(dst)


def _refuse_unsupported(config: dict[str, Any]) -> None:
    missing = [key for key in ("mm_vision_tower", "mm_hidden_size", "vocab_size", "hidden_size") if key not in config]
    if missing:
        raise ConversionError(f"the checkpoint's config.json lacks {', '.join(missing)}: it is not an original-LLaVA checkpoint")
    if config.get("image_aspect_ratio") == "anyres" or "unpad" in str(config.get("mm_patch_merge_type", "")):
        raise ConversionError("anyres / unpad checkpoints are LLaVA-NeXT; convert them to LlavaNextForConditionalGeneration instead")
    if config.get("mm_use_im_patch_token"):
        raise ConversionError("mm_use_im_patch_token=true (LLaVA v0 patch tokens) has no transformers equivalent")
    if config.get("mm_vision_select_feature", "patch") not in ("patch", "cls_patch"):
        raise ConversionError(f"unknown mm_vision_select_feature {config['mm_vision_select_feature']!r}")
    if config.get("s2"):
        raise ConversionError("multi-scale (s2) vision towers have no transformers equivalent")
    if "eva" in str(config["mm_vision_tower"]).lower():
        raise ConversionError(f"the vision tower {config['mm_vision_tower']!r} is not CLIP; transformers' LLaVA needs a CLIP tower")
    _projector_activation(config)


def _projector_activation(config: dict[str, Any]) -> str:
    kind = config.get("mm_projector_type", "linear")
    if kind in ("linear", "mlp1x_gelu"):
        return "linear"
    if kind == "mlp2x_gelu":
        return "gelu"
    raise ConversionError(f"mm_projector_type {kind!r}: transformers' LLaVA projector holds linear or mlp2x_gelu only")


def _llava_config(source: dict[str, Any], tower_config: Any, image_token_id: int, vocab_size: int) -> Any:
    from transformers import LlamaConfig, LlavaConfig

    text = {key: value for key, value in source.items() if not _LLAVA_ONLY_KEYS.match(key)}
    for key in ("architectures", "model_type", "transformers_version", "_name_or_path", "torch_dtype", "dtype"):
        text.pop(key, None)
    if text.get("rope_scaling") is None:
        text.pop("rope_scaling", None)
    text_config = LlamaConfig(**{**text, "vocab_size": vocab_size})
    full = source.get("mm_vision_select_feature", "patch") == "cls_patch"
    patches = (tower_config.image_size // tower_config.patch_size) ** 2
    return LlavaConfig(
        vision_config=tower_config.to_dict(), text_config=text_config.to_dict(), image_token_index=image_token_id,
        projector_hidden_act=_projector_activation(source), vision_feature_layer=source.get("mm_vision_select_layer", -2),
        vision_feature_select_strategy="full" if full else "default", image_seq_length=patches + int(full),
        multimodal_projector_bias=True, tie_word_embeddings=bool(source.get("tie_word_embeddings", False)),
    )


def _language_and_projector(src: Path, config: dict[str, Any], vocab_size: int) -> Iterator[tuple[str, torch.Tensor]]:
    """The checkpoint's tensors under transformers' names (the layout llava-hf folders use)."""
    seen_projector: dict[str, torch.Tensor] = {}
    for name, tensor in _read_weights(src, lambda name: not name.startswith("model.vision_tower.")):  # read by _tower_tensors
        if _RECOMPUTED.search(name):
            continue
        if name in ("model.embed_tokens.weight", "lm_head.weight"):
            yield f"language_model.{name}", _pad_rows(tensor, vocab_size)
        elif name.startswith("model.mm_projector."):
            seen_projector[name] = tensor
            yield _projector_name(name), tensor
        elif name.startswith("model."):
            yield f"language_model.{name}", tensor
        else:
            raise ConversionError(f"{src} holds the tensor {name!r}, which no part of LLaVA owns")
    if _projector_activation(config) == "linear":
        if seen_projector.keys() != {"model.mm_projector.weight", "model.mm_projector.bias"}:
            raise ConversionError(f"{src} does not hold a linear mm_projector (found {sorted(seen_projector)})")
        import torch

        dtype = seen_projector["model.mm_projector.weight"].dtype
        yield "multi_modal_projector.linear_2.weight", torch.eye(config["hidden_size"], dtype=dtype)
        yield "multi_modal_projector.linear_2.bias", torch.zeros(config["hidden_size"], dtype=dtype)


def _projector_name(name: str) -> str:
    suffix = name.removeprefix("model.mm_projector.")
    match = re.fullmatch(r"(?:(0|2)\.)?(weight|bias)", suffix)
    if match is None:
        raise ConversionError(f"unexpected projector tensor {name!r}")
    return f"multi_modal_projector.linear_{'2' if match[1] == '2' else '1'}.{match[2]}"


def _pad_rows(tensor: torch.Tensor, rows: int) -> torch.Tensor:
    import torch

    if tensor.shape[0] >= rows:
        return tensor
    return torch.cat([tensor, tensor.new_zeros(rows - tensor.shape[0], *tensor.shape[1:])])


def _tower_tensors(tower_dir: Path, src: Path) -> Iterator[tuple[str, torch.Tensor]]:
    """The CLIP folder's vision half (a full ``CLIPModel`` folder also holds a text half), or
    the tower the checkpoint itself carries when it was trained with the tower unfrozen."""
    prefix = "model.vision_tower.vision_tower."
    carried = {name.removeprefix(prefix): tensor
               for name, tensor in _read_weights(src, lambda name: name.startswith(prefix + "vision_model."))}
    if carried:
        logger.info("%s carries its own vision tower weights; they replace those of %s", src, tower_dir)
        tensors = carried.items()
    else:
        tensors = _read_weights(tower_dir, lambda name: name.startswith("vision_model."))
    found = False
    for name, tensor in tensors:
        if _RECOMPUTED.search(name) or name.endswith("position_ids"):
            continue
        found = True
        yield f"vision_tower.{name}", tensor
    if not found:
        raise ConversionError(f"{tower_dir} holds no vision_model.* tensors: it is not a CLIP vision tower folder")


def _read_weights(folder: Path, select: Callable[[str], bool] = lambda name: True) -> Iterator[tuple[str, torch.Tensor]]:
    """The selected tensors of a folder's safetensors files, else of its ``pytorch_model*.bin``
    files, read lazily."""
    from model_adapters.common.checkpoints import read_weight_file

    files = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("pytorch_model*.bin"))
    if not files:
        raise FileNotFoundError(f"{folder} holds neither *.safetensors nor pytorch_model*.bin weights")
    for path in files:
        yield from read_weight_file(path, select)


def _check_against_model(config: Any, tensors: dict[str, torch.Tensor]) -> None:
    """Every tensor the transformers model expects, with its shape, and nothing else."""
    import torch
    from transformers import LlavaForConditionalGeneration

    with torch.device("meta"):
        model = LlavaForConditionalGeneration(config)
    expected = {_legacy_name(name): tuple(value.shape) for name, value in model.state_dict().items()}
    if config.tie_word_embeddings:
        expected.pop("language_model.lm_head.weight", None)
    written = {_legacy_name(name): tuple(value.shape) for name, value in tensors.items()}
    missing, extra = sorted(expected.keys() - written.keys()), sorted(written.keys() - expected.keys())
    wrong = sorted(name for name in expected.keys() & written.keys() if expected[name] != written[name])
    if missing or extra or wrong:
        raise ConversionError(f"converted weights do not fit LlavaForConditionalGeneration: missing {missing[:5]}, "
                              f"unexpected {extra[:5]}, wrong shape {wrong[:5]}")


def _legacy_name(name: str) -> str:
    """One spelling for the names of different transformers versions (``model.language_model.x``
    in recent ones, ``language_model.model.x`` in the llava-hf folders)."""
    name = re.sub(r"^model\.language_model\.", "language_model.model.", name)
    name = re.sub(r"^lm_head\.", "language_model.lm_head.", name)
    name = re.sub(r"^model\.(vision_tower|multi_modal_projector)\.", r"\1.", name)
    return re.sub(r"^vision_tower\.(?!vision_model\.)", "vision_tower.vision_model.", name)


def _save_tensors(tensors: dict[str, torch.Tensor], dst: Path) -> None:
    from safetensors.torch import save_file

    shards: list[list[str]] = [[]]
    filled = 0
    for name, tensor in tensors.items():
        size = tensor.numel() * tensor.element_size()
        if shards[-1] and filled + size > SHARD_BYTES:
            shards.append([])
            filled = 0
        shards[-1].append(name)
        filled += size
    if len(shards) == 1:
        save_file({name: tensors[name].contiguous() for name in shards[0]}, str(dst / "model.safetensors"), metadata={"format": "pt"})
        return
    weight_map = {}
    for index, names in enumerate(shards, 1):
        file_name = f"model-{index:05d}-of-{len(shards):05d}.safetensors"
        save_file({name: tensors[name].contiguous() for name in names}, str(dst / file_name), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(names, file_name))
    total = sum(tensor.numel() * tensor.element_size() for tensor in tensors.values())
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (dst / "model.safetensors.index.json").write_text(json.dumps(index, indent=1), encoding="utf-8")


def _generation_config(src: Path, config: Any, image_token_id: int) -> Any:
    from transformers import GenerationConfig

    if (src / "generation_config.json").is_file():
        generation = GenerationConfig.from_pretrained(src, local_files_only=True)
    else:
        generation = GenerationConfig.from_model_config(config.text_config)
    generation.suppress_tokens = sorted({*(generation.suppress_tokens or []), image_token_id})
    return generation


def _processor(tower_dir: Path, tokenizer: Any, source: dict[str, Any], tower_config: Any, preset: Preset) -> Any:
    from transformers import LlavaProcessor
    from transformers.models.llava.image_processing_pil_llava import LlavaImageProcessorPil

    clip = json.loads((tower_dir / "preprocessor_config.json").read_text(encoding="utf-8"))
    crop = clip.get("crop_size", tower_config.image_size)
    crop = crop if isinstance(crop, dict) else {"height": crop, "width": crop}
    size = clip.get("size", {"shortest_edge": tower_config.image_size})
    size = size if isinstance(size, dict) else {"shortest_edge": size}
    resample = clip.get("resample", 3)
    if preset.squash_resize:
        if size.get("shortest_edge") != crop["height"] or crop["height"] != crop["width"]:
            raise ConversionError(f"{preset.name}'s resizing to the crop size needs a square crop equal to the resize edge; "
                                  f"{tower_dir} has size {size} and crop {crop}")
        size, resample = dict(crop), _PIL_LANCZOS
    image_processor = LlavaImageProcessorPil(
        do_pad=source.get("image_aspect_ratio") == "pad", do_resize=clip.get("do_resize", True), size=size,
        resample=resample, do_center_crop=clip.get("do_center_crop", True), crop_size=crop,
        do_rescale=clip.get("do_rescale", True), rescale_factor=clip.get("rescale_factor", 1 / 255),
        do_normalize=clip.get("do_normalize", True), image_mean=clip.get("image_mean"), image_std=clip.get("image_std"),
        do_convert_rgb=True,
    )
    start, end = IMAGE_MARKS[preset.name] if source.get("mm_use_im_start_end") else ("", "")
    system = SYSTEMS[preset.conversation]
    return LlavaProcessor(
        image_processor=image_processor, tokenizer=tokenizer, patch_size=tower_config.patch_size,
        vision_feature_select_strategy="full" if source.get("mm_vision_select_feature") == "cls_patch" else "default",
        num_additional_image_tokens=1, image_token=IMAGE_TOKEN,
        chat_template=chat_template(system, image_text(tokenizer, system, start + IMAGE_TOKEN + end)),
    )


def image_text(tokenizer: Any, system: str, image: str) -> str:
    """How the template writes the image so that the processor's ids are the repository's.

    The repository tokenizes the text on each side of ``<image>`` separately, so the text after
    the image starts as a fresh sentence: a sentencepiece tokenizer puts its word-start mark
    there. A tokenizer with ``legacy=True`` does that after every special token by itself;
    one with ``legacy=False`` needs the space written out."""
    probe = " What is written here? ASSISTANT:"
    expected = llava_token_ids(f"{system} USER: {image}\n{probe}", tokenizer)
    image_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    for candidate in (image + "\n", image + " \n"):
        ids = tokenizer(f"{system} USER: {candidate}{probe}").input_ids
        if [None if token == image_id else token for token in ids] == expected:
            return candidate
    raise ConversionError(
        "the converted tokenizer cannot reproduce the repository's token ids around the image "
        f"(expected {expected}); the tokenizer is not a LLaMA sentencepiece tokenizer this converter knows"
    )


def llava_token_ids(prompt: str, tokenizer: Any) -> list[int | None]:
    """``tokenizer_image_token`` of the LLaVA repository, with ``None`` where the image goes:
    each chunk tokenized alone, the BOS kept only at the start."""
    ids: list[int | None] = []
    for index, chunk in enumerate(prompt.split(IMAGE_TOKEN)):
        chunk_ids = tokenizer(chunk).input_ids
        if index:
            ids.append(None)
            if chunk_ids and chunk_ids[0] == tokenizer.bos_token_id:
                chunk_ids = chunk_ids[1:]
        ids.extend(chunk_ids)
    return ids


def chat_template(system: str, image: str) -> str:
    """LLaVA's ``SeparatorStyle.TWO`` conversation: ``SYSTEM USER: <image>\\nQ ASSISTANT: A</s>``,
    the image before the text of its turn as the repository's evaluation scripts place it."""
    return (
        "{{ " + json.dumps(system) + " }}"
        "{% for message in messages %}"
        "{% if message['role'] == 'user' %} USER: {% else %} ASSISTANT: {% endif %}"
        "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
        "{% for part in message['content'] %}{% if part['type'] == 'image' %}"
        "{{ " + json.dumps(image) + " }}"
        "{% else %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}"
        "{% if message['role'] != 'user' %}</s>{% endif %}"
        "{% endfor %}"
        "{% if add_generation_prompt %} ASSISTANT:{% endif %}"
    )


_DTYPES = ("bfloat16", "float16", "float32")


def convert_main(argv: Sequence[str] | None = None) -> int:
    """``thbench convert llava SRC DST --vision-tower CLIP_DIR [--preset llava|tgdoc] [--dtype ...]``."""
    parser = argparse.ArgumentParser(prog="thbench convert llava", description=__doc__.split("\n\n")[0])
    parser.add_argument("src", type=Path, help="the LLaVA-format checkpoint folder (config.json with mm_vision_tower, weights, tokenizer)")
    parser.add_argument("dst", type=Path, help="new folder for the transformers LLaVA model and processor")
    parser.add_argument("--vision-tower", type=Path, required=True,
                        help="local CLIP folder the checkpoint's mm_vision_tower names (e.g. clip-vit-large-patch14-336)")
    parser.add_argument("--preset", choices=sorted(PRESETS),
                        help="conversation and image resizing of the release (default: tgdoc when the config names TGDoc, else llava)")
    parser.add_argument("--dtype", choices=_DTYPES, help="convert floating tensors (default: keep the checkpoint's)")
    args = parser.parse_args(argv)
    import torch

    dtype = getattr(torch, args.dtype) if args.dtype else None
    try:
        written = convert_llava(args.src, args.dst, args.vision_tower, preset=args.preset, dtype=dtype)
    except (ConversionError, FileExistsError, FileNotFoundError) as error:
        parser.exit(2, f"thbench convert llava: error: {error}\n")
    logger.info("wrote %s", written)
    return 0
