"""Text tokenizer: a WordPiece model trained with the `tokenizers` library on a solution's corpus.

Saved as tokenizer.json beside the checkpoint. Encoding returns character offsets for every
token so that per-token predictions map back to spans of the original text. The model adds its
own CLS token, so no special tokens are inserted here; id 0 is padding.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

PAD_TOKEN = "[PAD]"
UNK_TOKEN = "[UNK]"
FILE_NAME = "tokenizer.json"


class TextTokenizer:
    """WordPiece tokenizer with padding id 0 and char offsets.

    encode() returns tensors ready for the text encoder: input_ids (B, T) long,
    attention_mask (B, T) bool and offsets (B, T, 2) long (start, end) into each text;
    padding positions have offsets (0, 0).
    """

    def __init__(self, tokenizer: Tokenizer) -> None:
        if tokenizer.token_to_id(PAD_TOKEN) != 0:
            raise ValueError(f"tokenizer must map {PAD_TOKEN} to id 0")
        self._tokenizer = tokenizer

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int = 8000, min_frequency: int = 2) -> TextTokenizer:
        tokenizer = Tokenizer(models.WordPiece(unk_token=UNK_TOKEN))
        tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        trainer = trainers.WordPieceTrainer(
            vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=[PAD_TOKEN, UNK_TOKEN]
        )
        tokenizer.train_from_iterator(texts, trainer=trainer)
        return cls(tokenizer)

    @property
    def vocab_size(self) -> int:
        return self._tokenizer.get_vocab_size()

    def to_json(self) -> str:
        return self._tokenizer.to_str()

    @classmethod
    def from_json(cls, text: str) -> TextTokenizer:
        return cls(Tokenizer.from_str(text))

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / FILE_NAME
        path.write_text(self.to_json())
        return path

    @classmethod
    def load(cls, directory: str | Path) -> TextTokenizer:
        """Load tokenizer.json from a checkpoint folder."""
        return cls.from_json((Path(directory) / FILE_NAME).read_text())

    def tokens(self, text: str) -> list[str]:
        return self._tokenizer.encode(text, add_special_tokens=False).tokens

    def decode(self, ids: Iterable[int]) -> str:
        return self._tokenizer.decode([i for i in ids if i != 0])

    def encode(self, texts: list[str], max_length: int, pad_to_max: bool = False) -> dict[str, torch.Tensor]:
        """Encode texts, truncated to max_length tokens and padded to the longest (or max_length)."""
        encodings = self._tokenizer.encode_batch(texts, add_special_tokens=False)
        rows = [(e.ids[:max_length], e.offsets[:max_length]) for e in encodings]
        return _pad(rows, max_length if pad_to_max else max((len(ids) for ids, _ in rows), default=0))

    def encode_windows(self, text: str, max_length: int, stride: int) -> dict[str, torch.Tensor]:
        """Cover a long text with overlapping windows of max_length tokens, starting every
        `stride` tokens; offsets stay relative to the whole text."""
        if not 0 < stride <= max_length:
            raise ValueError(f"stride must be in 1..max_length ({max_length}), got {stride}")
        encoding = self._tokenizer.encode(text, add_special_tokens=False)
        starts = range(0, max(len(encoding.ids) - max_length, 0) + stride, stride)
        rows = [(encoding.ids[s : s + max_length], encoding.offsets[s : s + max_length]) for s in starts]
        rows = [row for row in rows if row[0]] or [([], [])]
        return _pad(rows, max(len(ids) for ids, _ in rows))


def _pad(rows: list[tuple[list[int], list[tuple[int, int]]]], length: int) -> dict[str, torch.Tensor]:
    input_ids = torch.zeros(len(rows), length, dtype=torch.long)
    attention_mask = torch.zeros(len(rows), length, dtype=torch.bool)
    offsets = torch.zeros(len(rows), length, 2, dtype=torch.long)
    for i, (ids, spans) in enumerate(rows):
        n = len(ids)
        if n:
            input_ids[i, :n] = torch.tensor(ids)
            attention_mask[i, :n] = True
            offsets[i, :n] = torch.tensor(spans)
    return {"input_ids": input_ids, "attention_mask": attention_mask, "offsets": offsets}
