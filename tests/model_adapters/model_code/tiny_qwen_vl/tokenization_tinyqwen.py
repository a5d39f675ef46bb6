"""A byte tokenizer with Qwen-VL's image convention: ``<img>PATH</img>`` becomes the start tag,
the path's bytes, padding up to ``IMG_TOKEN_SPAN`` tokens, and the end tag."""

import re

from transformers import PreTrainedTokenizer

SPECIALS = ("<|endoftext|>", "<img>", "</img>", "<imgpad>")
IMAGE = re.compile(r"<img>(.*?)</img>", re.DOTALL)


class TinyQwenTokenizer(PreTrainedTokenizer):
    vocab_files_names = {}
    model_input_names = ["input_ids", "attention_mask"]

    def __init__(self, **kwargs):
        self.IMG_TOKEN_SPAN = 96
        super().__init__(**kwargs)

    @property
    def eod_id(self):
        return 256

    @property
    def vocab_size(self):
        return 256 + len(SPECIALS)

    def get_vocab(self):
        vocab = {f"<{byte}>": byte for byte in range(256)}
        vocab.update({token: 256 + index for index, token in enumerate(SPECIALS)})
        return vocab

    def tokenize(self, text, **kwargs):
        tokens, position = [], 0
        for match in IMAGE.finditer(text):
            tokens += self._bytes(text[position : match.start()])
            path = self._bytes(match.group(1))
            if len(path) > self.IMG_TOKEN_SPAN:
                raise ValueError(f"image path longer than {self.IMG_TOKEN_SPAN} bytes: {match.group(1)}")
            tokens += ["<img>", *path, *["<imgpad>"] * (self.IMG_TOKEN_SPAN - len(path)), "</img>"]
            position = match.end()
        return tokens + self._bytes(text[position:])

    @staticmethod
    def _bytes(text):
        return [f"<{byte}>" for byte in text.encode("utf-8")]

    def _convert_token_to_id(self, token):
        return self.get_vocab()[token]

    def _convert_id_to_token(self, index):
        return SPECIALS[index - 256] if index >= 256 else f"<{index}>"

    def convert_tokens_to_string(self, tokens):
        return bytes(int(token[1:-1]) for token in tokens if token not in SPECIALS).decode("utf-8", errors="replace")

    def _decode(self, token_ids, skip_special_tokens=False, **kwargs):
        pieces, run = [], []
        for index in token_ids:
            if index < 256:
                run.append(index)
            elif not skip_special_tokens:
                pieces.append(bytes(run).decode("utf-8", errors="replace") + SPECIALS[index - 256])
                run = []
        pieces.append(bytes(run).decode("utf-8", errors="replace"))
        return "".join(pieces)

    def save_vocabulary(self, save_directory, filename_prefix=None):
        return ()
