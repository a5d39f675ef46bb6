"""The layout planner: a causal language model (the release's is a fine-tuned Vicuna-7B) that
continues the planning prompt with lines ``keyword l,t,r,b``.

It is sampled as the release samples it: temperature 0.7, repetition penalty 1.0, at most 512
new tokens, the other sampling settings those of the folder's ``generation_config.json`` (top-k
50 and top-p 1.0 where it sets none, transformers 4.28's defaults). Text goes through the
folder's sentencepiece model directly, as the release's slow ``LlamaTokenizer`` does: a start
token, then the pieces; special pieces are dropped from the answer before it is decoded.
The random draws come from the request's seed, in a forked RNG state so that nothing outside
the call is disturbed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model_adapters.textdiffuser2.layout import planner_prompt

#: transformers 4.28's sampling defaults, used where the planner folder sets none.
_SAMPLING_DEFAULTS = {"top_k": 50, "top_p": 1.0}


@dataclass(frozen=True)
class PlannerSettings:
    temperature: float = 0.7
    max_new_tokens: int = 512


@dataclass(frozen=True)
class LayoutPlanner:
    model: Any
    #: The folder's sentencepiece model.
    pieces: Any
    add_bos: bool
    settings: PlannerSettings

    @classmethod
    def load(cls, folder: Path, device: Any, dtype: Any, settings: PlannerSettings) -> "LayoutPlanner":
        import sentencepiece
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, dtype=dtype).to(device).eval()
        pieces = sentencepiece.SentencePieceProcessor(model_file=str(folder / "tokenizer.model"))
        config_path = folder / "tokenizer_config.json"
        config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
        return cls(model, pieces, bool(config.get("add_bos_token", True)), settings)

    def sampling(self) -> dict[str, Any]:
        """The generation settings of every call, for the manifest."""
        config = self.model.generation_config
        chosen = {key: getattr(config, key, None) for key in _SAMPLING_DEFAULTS}
        return {
            "do_sample": True, "temperature": self.settings.temperature, "repetition_penalty": 1.0,
            "max_new_tokens": self.settings.max_new_tokens,
            **{key: default if chosen[key] is None else chosen[key] for key, default in _SAMPLING_DEFAULTS.items()},
        }

    def prompt_ids(self, caption: str) -> list[int]:
        ids = self.pieces.encode(planner_prompt(caption))
        return [self.pieces.bos_id(), *ids] if self.add_bos else ids

    def plan(self, caption: str, seed: int) -> tuple[list[int], str]:
        """The sampled answer's ids and its text."""
        import torch

        device = self.model.device
        input_ids = torch.tensor([self.prompt_ids(caption)], device=device)
        forked = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=forked), torch.no_grad():
            torch.manual_seed(seed)
            output = self.model.generate(
                input_ids=input_ids, attention_mask=torch.ones_like(input_ids), **self.sampling(),
            )
        answer = output[0, input_ids.shape[1]:].tolist()
        kept = [i for i in answer if not (self.pieces.is_control(i) or self.pieces.is_unknown(i))]
        return answer, self.pieces.decode(kept)
