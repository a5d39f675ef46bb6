"""Keys missing from a TextHarmony checkpoint are filled from local base-model folders."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from model_adapters.textharmony import load_model
from model_adapters.textharmony.base_components import BaseComponents
from model_adapters.textharmony.checkpoint import PartialCheckpointError
from model_adapters.textharmony.keys import PEFT_VIT_PREFIX

VIT = PEFT_VIT_PREFIX + "vision_model."


def test_base_folders_fill_what_the_checkpoint_lacks(tiny_model, tmp_path):
    state = tiny_model.state_dict()
    llm = tiny_model.config.llm
    base_vocab = llm.base_vocab_size

    vicuna = tmp_path / "vicuna"
    vicuna.mkdir()
    hf_llm = {"model." + k[len("mm_decoder."):]: v.clone() for k, v in state.items()
              if k.startswith("mm_decoder.") and "lora_moe" not in k and "llama_cross_attn" not in k}
    hf_llm["model.embed_tokens.weight"] = hf_llm["model.embed_tokens.weight"][:base_vocab].clone()
    hf_llm["lm_head.weight"] = torch.randn(base_vocab, llm.hidden_size)
    save_file(hf_llm, str(vicuna / "model.safetensors"))

    clip = tmp_path / "clip"
    clip.mkdir()
    hf_clip = {"vision_model." + k[len(VIT):]: v.clone() for k, v in state.items()
               if k.startswith(VIT + "encoder.layers.") and "lora_" not in k}
    hf_clip["vision_model.embeddings.position_embedding.weight"] = torch.randn(5, 32)  # a 2x2 grid + class
    torch.save(hf_clip, clip / "pytorch_model.bin")

    sd2 = tmp_path / "sd2"
    (sd2 / "unet").mkdir(parents=True)
    (sd2 / "vae").mkdir()
    prefix = "image_decoder.decoder."
    save_file({k[len(prefix) + 5:]: v.clone() for k, v in state.items() if k.startswith(prefix + "unet.")},
              str(sd2 / "unet" / "diffusion_pytorch_model.safetensors"))
    old_names = {".to_q.": ".query.", ".to_k.": ".key.", ".to_v.": ".value.", ".to_out.0.": ".proj_attn."}
    vae = {}
    for k, v in state.items():
        if k.startswith(prefix + "vae."):
            name = k[len(prefix) + 4:]
            for new, old in old_names.items():
                name = name.replace(new, old)
            vae[name] = v.clone()
    torch.save(vae, sd2 / "vae" / "diffusion_pytorch_model.bin")

    fine_tuned = {k: v for k, v in state.items()
                  if not (k in {"mm_decoder." + n[len("model."):] for n in hf_llm} or k.startswith("text_decoder.")
                          or k.startswith(VIT + "encoder.layers.") and "lora_" not in k
                          or k.startswith(prefix + "unet.") or k.startswith(prefix + "vae."))}
    torch.save(fine_tuned, tmp_path / "textharmony.bin")
    with pytest.raises(PartialCheckpointError):
        load_model(tmp_path / "textharmony.bin", "tiny")

    base = BaseComponents(vicuna=vicuna, clip=clip, sd2=sd2)
    model, report = load_model(tmp_path / "textharmony.bin", "tiny", base=base)
    assert report.complete and report.from_base
    loaded = model.state_dict()
    assert torch.equal(loaded["mm_decoder.layers.1.mlp.up_proj.weight"], state["mm_decoder.layers.1.mlp.up_proj.weight"])
    embed = loaded["mm_decoder.embed_tokens.weight"]
    assert torch.equal(embed[:base_vocab], state["mm_decoder.embed_tokens.weight"][:base_vocab])
    assert torch.count_nonzero(embed[base_vocab:]) == 0
    assert (loaded["text_decoder.head.bias"][base_vocab:] == -100).all()
    assert loaded[VIT + "embeddings.position_embedding.weight"].shape == (17, 32)
    for name in ("decoder.mid_block.attentions.0.to_q.weight", "encoder.mid_block.attentions.0.to_out.0.bias"):
        assert torch.equal(loaded[prefix + "vae." + name], state[prefix + "vae." + name])


def test_missing_base_files_are_named(tmp_path):
    (tmp_path / "vicuna").mkdir()
    torch.save({}, tmp_path / "empty.bin")
    with pytest.raises(FileNotFoundError, match="model.safetensors.index.json"):
        load_model(tmp_path / "empty.bin", "tiny", base=BaseComponents(vicuna=tmp_path / "vicuna"))
    with pytest.raises(FileNotFoundError, match=r"sd2/unet does not exist"):
        load_model(tmp_path / "empty.bin", "tiny", base=BaseComponents(sd2=tmp_path / "sd2"))
