"""Training of the shipped clause model, from the CUAD training contracts only.

Three steps, every one through the engine:
1. a WordPiece tokenizer (engine.tokenizer.TextTokenizer.train) on the training contracts' text;
2. pretraining of a small MoE text model with a masked-token objective: a `token` head over the
   vocabulary whose targets are -100 except at masked positions (15 % of tokens; 80 % of those
   replaced by [UNK], which stands in for a mask token, 10 % by a random token, 10 % kept);
3. fine-tuning with a `multilabel` head over the 41 CUAD categories on sentence segments
   (datasets.py labels them): first the wide read-out alone, a logistic regression on the
   segment's hashed n-grams fitted to convergence (engine.train.fit_wide), then, with it frozen,
   the pretrained trunk and the head on its residual; then the decision threshold that
   maximises micro-F1 on every segment of the validation contracts.
Checkpoints land in models/contracts/clauses/ beside MODEL_CARD.md.
"""

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from engine.checkpoint import save_checkpoint
from engine.config import HeadSpec, ModelConfig
from engine.model import MoETransformer
from engine.tokenizer import TextTokenizer
from engine.train import LengthBucketedBatches, collect_predictions, fit, fit_wide, seed_everything
from solutions.contracts.classifier import HEAD, LABELS_FILE, MAX_TOKENS, WIDE_TOKENS
from solutions.contracts.datasets import ContractSegments, categories, load_split, read_contracts

MODEL_NAME = "clauses"
MLM_HEAD = "mlm"
MASK_RATE = 0.15
UNK_ID = 1
VOCAB_SIZE = 4000
NGRAM_BUCKETS = 16_000  # the bag into CLS: 1.5M of the model's weights
WIDE_BUCKETS = 32_000  # the wide read-out into the 41 logits: 1.3M weights; checkpoint near 16 MB
WIDE_C = 4.0  # the wide fit's inverse L2 strength (liblinear's C), as the TF-IDF baseline's
# Chosen on the validation contracts among 1, 5 and 20 when Adam trained the read-out. fit_wide's
# penalty is on the effective weights, so its fit does not depend on the gain; kept as shipped.
WIDE_GAIN = 5.0
RARE_CATEGORY_ROWS = 200  # segments of a rarer category are repeated up to this many (8x at most)
PRETRAIN_WINDOW = 64
VALID_CONTRACTS = 25  # validation contracts for the checkpoint choice and the threshold (CPU time)


def model_config(vocab_size: int, heads: list[HeadSpec]) -> ModelConfig:
    return ModelConfig(d_model=96, n_layers=2, n_heads=4, n_experts=4, top_k=2, n_shared_experts=1,
                       expert_hidden=192, dropout=0.1, encoder="text", vocab_size=vocab_size,
                       max_len=MAX_TOKENS, ngram_buckets=NGRAM_BUCKETS, wide_buckets=WIDE_BUCKETS,
                       wide_gain=WIDE_GAIN, wide_max_len=WIDE_TOKENS, heads=heads)


def micro_average_precision(outputs: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> float:
    """Micro AUPR of the clause head over every known (segment, category) cell (NaN = unknown):
    the mean precision at each true cell's rank. The checkpoint choice here, and the holdout
    measure of tenant adapters."""
    target = targets[HEAD]
    known = ~torch.isnan(target)
    scores, truth = outputs[HEAD].float()[known], target[known] >= 0.5
    if not truth.any():
        return 0.0
    ranked = truth[torch.argsort(scores, descending=True, stable=True)].float()
    precision = ranked.cumsum(0) / torch.arange(1, len(ranked) + 1)
    return float((precision * ranked).sum() / ranked.sum())


class MaskedWindows(Dataset):
    """Token windows with fresh masking every time a row is read (dynamic masking)."""

    def __init__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, vocab_size: int, seed: int = 0) -> None:
        self.input_ids, self.attention_mask, self.vocab_size = input_ids, attention_mask, vocab_size
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.input_ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        ids, real = self.input_ids[i].clone(), self.attention_mask[i]
        chosen = (torch.rand(ids.shape, generator=self.generator) < MASK_RATE) & real
        targets = torch.where(chosen, ids, torch.full_like(ids, -100))
        roll = torch.rand(ids.shape, generator=self.generator)
        ids[chosen & (roll < 0.8)] = UNK_ID
        random_tokens = torch.randint(2, self.vocab_size, ids.shape, generator=self.generator)
        swap = chosen & (roll >= 0.8) & (roll < 0.9)
        ids[swap] = random_tokens[swap]
        return {"input_ids": ids, "attention_mask": real, MLM_HEAD: targets}


class SegmentRows(Dataset):
    """Tokenised segments (their first WIDE_TOKENS tokens) with their multi-hot labels."""

    def __init__(self, tokenizer: TextTokenizer, texts: list[str], labels: np.ndarray) -> None:
        encoded = tokenizer.encode(texts, max_length=WIDE_TOKENS, pad_to_max=True)
        self.input_ids, self.attention_mask = encoded["input_ids"], encoded["attention_mask"]
        self.labels = torch.from_numpy(labels.astype(np.float32))

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.input_ids[i], "attention_mask": self.attention_mask[i], HEAD: self.labels[i]}


def pretraining_windows(tokenizer: TextTokenizer, texts: list[str], max_windows: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Consecutive PRETRAIN_WINDOW-token windows of every text, a random `max_windows` of them."""
    windows = []
    for text in texts:
        ids = tokenizer.encode([text], max_length=10**8)["input_ids"][0]  # (T,) one call per text
        usable = len(ids) - len(ids) % PRETRAIN_WINDOW
        windows.append(ids[:usable].view(-1, PRETRAIN_WINDOW))
    input_ids = torch.cat(windows)
    keep = torch.randperm(len(input_ids), generator=torch.Generator().manual_seed(seed))[:max_windows]
    input_ids = input_ids[keep]
    return input_ids, input_ids != 0


def balanced_rows(contracts: list[ContractSegments], negatives_per_positive: float, seed: int) -> tuple[list[str], np.ndarray]:
    """Every labelled segment plus a sample of "no clause" segments."""
    texts = [t for c in contracts for t in c.segment_texts()]
    labels = np.concatenate([c.labels for c in contracts])
    positive = labels.any(axis=1)
    rng = np.random.default_rng(seed)
    negatives = np.flatnonzero(~positive)
    n_negatives = min(len(negatives), int(positive.sum() * negatives_per_positive))
    chosen = np.sort(np.concatenate([np.flatnonzero(positive), rng.choice(negatives, n_negatives, replace=False)]))
    return [texts[i] for i in chosen], labels[chosen]


def oversample_rare(texts: list[str], labels: np.ndarray, target_rows: int, max_repeats: int = 8) -> tuple[list[str], np.ndarray]:
    """Repeat the segments of categories with fewer than `target_rows` examples (a segment
    repeats as often as its rarest category needs), so rare clauses weigh in the loss."""
    counts = labels.sum(axis=0)
    need = np.where(counts > 0, np.ceil(target_rows / np.maximum(counts, 1)), 1).clip(1, max_repeats)
    repeats = np.where(labels.any(axis=1), (labels * need).max(axis=1), 1).astype(int)
    index = np.repeat(np.arange(len(texts)), repeats)
    return [texts[i] for i in index], labels[index]


def best_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The threshold on scores that maximises micro-F1 over every (segment, category) cell."""
    order = np.argsort(-scores.ravel())
    truth = labels.ravel()[order]
    true_positives = np.cumsum(truth)
    f1 = 2 * true_positives / (np.arange(1, len(truth) + 1) + truth.sum())
    best = int(np.argmax(f1))
    return float(scores.ravel()[order][best])


def train_base(data_dir: Path, models_dir: Path, log: Callable[[str], None],
               pretrain_windows: int = 4_000, pretrain_epochs: int = 1,
               finetune_epochs: int = 4, finetune_rows: int | None = None, negatives_per_positive: float = 3.0, seed: int = 0,
               train_limit: int | None = None) -> dict:
    """Train tokenizer, pretraining and fine-tuning; write models_dir/clauses/. Returns metrics."""
    seed_everything(seed)
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    names = categories(data_dir)
    started = time.monotonic()
    train_texts = [row["text"] for index, row in enumerate(read_contracts(data_dir, "train"))
                   if train_limit is None or index < train_limit]
    tokenizer = TextTokenizer.train(train_texts, vocab_size=VOCAB_SIZE, min_frequency=2)
    log(f"tokenizer: {tokenizer.vocab_size} tokens from {len(train_texts)} training contracts")

    input_ids, attention_mask = pretraining_windows(tokenizer, train_texts, pretrain_windows, seed)
    cut = max(1, len(input_ids) // 20)
    pretrain_model = MoETransformer(model_config(tokenizer.vocab_size, [HeadSpec(MLM_HEAD, "token", tokenizer.vocab_size)]))
    pretrain = fit(
        pretrain_model,
        DataLoader(MaskedWindows(input_ids[cut:], attention_mask[cut:], tokenizer.vocab_size, seed), batch_size=32, shuffle=True),
        DataLoader(MaskedWindows(input_ids[:cut], attention_mask[:cut], tokenizer.vocab_size, seed + 1), batch_size=64),
        epochs=pretrain_epochs, lr=2e-3, warmup_steps=10, seed=seed, progress_every=100,
        progress=lambda e: log(f"pretrain {e['event']} {e.get('step')}/{e.get('total_steps')} loss {e.get('train_loss', 0):.3f}"
                               + (f" valid {e['valid_loss']:.3f}" if e["event"] == "epoch" else "")),
    )
    log(f"pretraining: masked-token valid loss {pretrain.best_metric:.3f} on {len(input_ids) - cut} windows")

    train = load_split(data_dir, "train", names, limit=train_limit)
    valid = load_split(data_dir, "valid", names, limit=VALID_CONTRACTS)
    train_texts_seg, train_labels = balanced_rows(train, negatives_per_positive, seed)
    train_texts_seg, train_labels = oversample_rare(train_texts_seg, train_labels, RARE_CATEGORY_ROWS)
    if finetune_rows is not None:  # a random subset, for quick runs
        keep = np.sort(np.random.default_rng(seed).permutation(len(train_labels))[:finetune_rows])
        train_texts_seg, train_labels = [train_texts_seg[i] for i in keep], train_labels[keep]
    valid_texts_seg, valid_labels = balanced_rows(valid, negatives_per_positive, seed)
    model = MoETransformer(model_config(tokenizer.vocab_size, [HeadSpec(HEAD, "multilabel", len(names))]))
    # The trunk (encoder, blocks, norm) comes from pretraining; the clause head and its wide
    # read-out start fresh.
    fresh = ("heads.", "wide.")
    trunk = {k: v for k, v in pretrain_model.state_dict().items() if not k.startswith(fresh)}
    missing, unexpected = model.load_state_dict(trunk, strict=False)
    assert not unexpected and all(k.startswith(fresh) for k in missing), (missing, unexpected)
    rows = SegmentRows(tokenizer, train_texts_seg, train_labels)
    wide_objective = fit_wide(model, rows.input_ids, rows.attention_mask, {HEAD: rows.labels}, c=WIDE_C)[HEAD]
    model.wide.requires_grad_(False)  # the deep half learns the residual of the converged wide fit
    log(f"wide read-out: fitted alone by L-BFGS (objective {wide_objective:.4f}), then frozen")
    train_batches = LengthBucketedBatches({"input_ids": rows.input_ids, "attention_mask": rows.attention_mask, HEAD: rows.labels},
                                          rows.attention_mask.sum(dim=1), batch_size=64, seed=seed)
    finetune = fit(
        model,
        train_batches,
        DataLoader(SegmentRows(tokenizer, valid_texts_seg, valid_labels), batch_size=128),
        metric_fn=micro_average_precision, maximize=True,
        epochs=finetune_epochs, lr=2e-3, warmup_steps=50, seed=seed, progress_every=100,
        progress=lambda e: log(f"finetune {e['event']} {e.get('step')}/{e.get('total_steps')} loss {e.get('train_loss', 0):.3f}"
                               + (f" valid AUPR {e['metric']:.3f}" if e["event"] == "epoch" else "")),
    )
    log(f"fine-tuning: valid micro AUPR {finetune.best_metric:.4f} (epoch {finetune.best_epoch}) on {len(train_labels)} training segments")

    # Threshold on every validation segment (not the balanced sample): the real class balance.
    all_valid_texts = [t for c in valid for t in c.segment_texts()]
    all_valid_labels = np.concatenate([c.labels for c in valid])
    loader = DataLoader(SegmentRows(tokenizer, all_valid_texts, all_valid_labels), batch_size=128)
    scores = torch.sigmoid(collect_predictions(model, loader).heads[HEAD].float()).numpy()
    threshold = best_threshold(scores, all_valid_labels)
    out_dir = Path(models_dir) / MODEL_NAME
    labels_json = json.dumps({"categories": names, "threshold": threshold}, indent=1)
    save_checkpoint(model, out_dir, extra_files={"tokenizer.json": tokenizer.to_json(), LABELS_FILE: labels_json})
    metrics = {"pretrain_valid_loss": pretrain.best_metric, "finetune_valid_aupr": finetune.best_metric,
               "threshold": threshold, "train_segments": len(train_labels), "finetune_epochs": finetune_epochs, "minutes": (time.monotonic() - started) / 60}
    (out_dir / "MODEL_CARD.md").write_text(model_card(metrics, len(train), len(valid)))
    log(f"saved {out_dir} ({metrics['minutes']:.1f} min); threshold {threshold:.3f}")
    return metrics


def model_card(metrics: dict, n_train: int, n_valid: int) -> str:
    return f"""# Clause classifier (contracts)

The engine's own MoE text model, wide & deep: the "deep" half is a transformer (d_model 96, 2
layers, 4 routed experts top-2 + 1 shared, and a bag of {NGRAM_BUCKETS} hashed unigram/bigram
buckets feeding the CLS token) reads a segment's first {MAX_TOKENS} tokens; the "wide" half reads
{WIDE_BUCKETS} hashed unigram/bigram buckets of its first {WIDE_TOKENS} tokens (each distinct bucket once)
linearly into the 41 logits. With its own WordPiece tokenizer ({VOCAB_SIZE} tokens), it tags
sentence segments of a contract with the 41 CUAD categories (multi-label; no category = "no clause").

- **Data:** CUAD v1 (The Atticus Project; Hendrycks et al., NeurIPS 2021), license CC BY 4.0.
  Contracts are public SEC EDGAR filings.
- **Split:** by contract, seed 42, as in `../shared/data/contracts`: tokenizer, pretraining and
  fine-tuning use the {n_train} training contracts; the decision threshold and the checkpoint choice
  the first {n_valid} validation contracts; the test contracts only the evaluation
  (`python manage.py evaluate contracts`, docs/evaluation/contracts.md).
- **Pretraining:** masked-token objective (15 % of tokens; [UNK] serves as the mask token) over
  {PRETRAIN_WINDOW}-token windows of the training contracts; valid loss {metrics['pretrain_valid_loss']:.3f}.
- **Fine-tuning:** first the wide half alone, an L2-regularised logistic regression (C = {WIDE_C:g})
  solved to convergence by L-BFGS (`engine.train.fit_wide`); then, with it frozen, the trunk
  and the multi-label head on the pooled output learn its residual; all labelled segments (those of categories with fewer than {RARE_CATEGORY_ROWS}
  repeated, 8x at most) plus three unlabelled segments per labelled one
  ({metrics['train_segments']} rows, {metrics['finetune_epochs']} epochs); the epoch with the best micro
  AUPR on the validation contracts' segments is kept ({metrics['finetune_valid_aupr']:.3f}).
- **Threshold:** {metrics['threshold']:.3f} (best micro-F1 over every validation segment).
- **Training time:** {metrics['minutes']:.0f} minutes on a shared 2-core CPU
  (`python manage.py train_base contracts --data ../shared/data/contracts`).
- **Limits:** a small model trained for minutes; it is a first pass for a human reviewer, not a
  substitute for one. Categories with few training excerpts are rarely found.
"""
