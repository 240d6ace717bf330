"""TextTokenizer: training, save/load round trip, padding, offsets and long-text windows."""

from __future__ import annotations

from engine.tokenizer import TextTokenizer

CORPUS = [
    "The Supplier shall indemnify the Customer against all losses.",
    "This Agreement terminates automatically on insolvency of either party.",
    "Liability is limited to the fees paid in the preceding twelve months.",
    "The Customer may terminate this Agreement for convenience on notice.",
] * 20


def test_round_trip_through_tokenizer_json(tmp_path):
    tokenizer = TextTokenizer.train(CORPUS, vocab_size=300, min_frequency=1)
    tokenizer.save(tmp_path)
    loaded = TextTokenizer.load(tmp_path)
    texts = ["The Supplier shall terminate.", "Liability"]
    first, again = tokenizer.encode(texts, max_length=16), loaded.encode(texts, max_length=16)
    assert first["input_ids"].tolist() == again["input_ids"].tolist()
    assert loaded.vocab_size == tokenizer.vocab_size
    assert loaded.decode(first["input_ids"][1].tolist()) == "liability"


def test_offsets_point_at_the_original_characters():
    tokenizer = TextTokenizer.train(CORPUS, vocab_size=300, min_frequency=1)
    text = "The SUPPLIER shall indemnify."
    encoded = tokenizer.encode([text], max_length=32)
    n = int(encoded["attention_mask"][0].sum())
    pieces = [text[s:e] for s, e in encoded["offsets"][0, :n].tolist()]
    assert "SUPPLIER" in "".join(pieces)
    assert pieces[-1] == "."


def test_padding_and_truncation():
    tokenizer = TextTokenizer.train(CORPUS, vocab_size=300, min_frequency=1)
    encoded = tokenizer.encode(["the customer", CORPUS[1]], max_length=5)
    assert encoded["input_ids"].shape == (2, 5)
    assert encoded["attention_mask"][0].tolist() == [True, True, False, False, False]
    assert encoded["input_ids"][0, 2:].tolist() == [0, 0, 0]
    fixed = tokenizer.encode(["the customer"], max_length=8, pad_to_max=True)
    assert fixed["input_ids"].shape == (1, 8)


def test_windows_cover_a_long_text_with_overlap():
    tokenizer = TextTokenizer.train(CORPUS, vocab_size=300, min_frequency=1)
    text = " ".join(CORPUS[:4])
    total = len(tokenizer.tokens(text))
    windows = tokenizer.encode_windows(text, max_length=8, stride=6)
    counts = windows["attention_mask"].sum(dim=1)
    assert windows["input_ids"].shape[1] == 8
    assert int(counts.sum()) - 2 * (len(counts) - 1) == total
    assert int(windows["offsets"][-1, counts[-1] - 1, 1]) == len(text)
