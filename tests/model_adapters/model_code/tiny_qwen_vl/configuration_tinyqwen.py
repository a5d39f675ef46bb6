"""Configuration of a tiny Qwen-VL-like model, loaded by transformers as remote code."""

from transformers import PretrainedConfig


class TinyQwenConfig(PretrainedConfig):
    model_type = "tiny_qwen_vl"

    def __init__(self, vocab_size=260, hidden_size=16, max_positions=512, num_hidden_layers=1, visual=None, **kwargs):
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.max_positions = max_positions
        self.num_hidden_layers = num_hidden_layers
        self.visual = visual or {"image_start_id": 257, "image_size": 8}
        super().__init__(**kwargs)
