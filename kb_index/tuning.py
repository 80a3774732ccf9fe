"""Fine-tuning a sentence-transformers encoder on the knowledge base's own questions.

Contrastive (MultipleNegativesRankingLoss): each alternative question of an article, and each
customer question whose answer the customer confirmed, is pulled towards the article's title and
away from the other titles of its batch. On the CPU, one thread, one epoch by default. The new
model is kept only if the search measured on the validation questions gets better.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from kb_index.encoders import Encoder, get_encoder
from kb_index.evaluation import LabelledQuestion, check_labels, evaluate_kb
from kb_index.index import IndexedArticle


@dataclass(frozen=True)
class TuneResult:
    """Before and after, on the validation questions, and what became of the new model."""

    base: str  # the encoder spec measured before
    candidate: str  # the encoder spec with the tuned model (for BALCAO_ENCODER)
    candidate_name: str  # its name, under which its calibration is stored
    before: dict[str, float]
    after: dict[str, float]
    kept: bool
    model_path: Path | None  # where the kept model is; None when it was rejected (and deleted)
    pairs: int
    confirmed: int  # of the pairs, how many come from customers' confirmed answers
    calibration: dict = field(default_factory=dict)  # the fitted parameters of the candidate

    def as_dict(self) -> dict:
        return {
            "base": self.base,
            "candidate": self.candidate,
            "kept": self.kept,
            "model_path": str(self.model_path) if self.model_path else None,
            "pairs": self.pairs,
            "confirmed_answers": self.confirmed,
            "before": self.before,
            "after": self.after,
        }


def training_pairs(articles: Sequence[IndexedArticle], confirmed: Sequence[tuple[str, str]] = ()) -> list[tuple[str, str, str]]:
    """(question, article title, article key) for each alternative question and each confirmed
    customer question (``(question, article id)``; the article's versions in every language get it,
    questions naming an article no longer published are skipped)."""
    pairs: list[tuple[str, str, str]] = []
    by_id: dict[str, list[IndexedArticle]] = {}
    for article in articles:
        by_id.setdefault(article.id, []).append(article)
        key = f"{article.id}\x00{article.lang}"
        pairs += [(q, article.title, key) for q in article.questions if q.strip()]
    for question, article_id in confirmed:
        for article in by_id.get(article_id, [])[:1]:
            pairs.append((question, article.title, f"{article.id}\x00{article.lang}"))
    return pairs


def _batches(pairs: list[tuple[str, str, str]], size: int, rng: random.Random) -> list[list[tuple[str, str, str]]]:
    """Shuffled batches in which no article appears twice: its title would otherwise be a negative
    for its own question (the in-batch negatives of MultipleNegativesRankingLoss)."""
    pending = pairs[:]
    rng.shuffle(pending)
    batches: list[list[tuple[str, str, str]]] = []
    open_keys: list[set[str]] = []
    for pair in pending:
        for batch, keys in zip(batches, open_keys):
            if len(batch) < size and pair[2] not in keys:
                batch.append(pair)
                keys.add(pair[2])
                break
        else:
            batches.append([pair])
            open_keys.append({pair[2]})
    return [b for b in batches if len(b) > 1]  # a lone pair has no negative to learn from


def fine_tune(
    base: str,
    pairs: list[tuple[str, str, str]],
    out_dir: Path,
    *,
    epochs: int = 1,
    batch_size: int = 16,
    learning_rate: float = 2e-5,
    seed: int = 0,
    progress: bool = True,
) -> Path:
    """Train ``base`` (a sentence-transformers name or path) on ``pairs`` and save it in ``out_dir``.

    A plain loop over the library's model and loss rather than its Trainer, which would bring the
    ``datasets`` and ``accelerate`` packages for a few hundred pairs."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from tqdm import tqdm

    torch.set_num_threads(1)  # on a busy 2-core machine a second thread made encoding ~5x slower
    torch.manual_seed(seed)
    rng = random.Random(seed)  # noqa: S311 - a seeded shuffle of training pairs, not a secret
    model = SentenceTransformer(base, device="cpu")
    loss = MultipleNegativesRankingLoss(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    # sentence-transformers 6 renamed tokenize to preprocess; 5 only has the old name.
    tokenize = getattr(model, "preprocess", None) or model.tokenize
    model.train()
    for epoch in range(epochs):
        batches = _batches(pairs, batch_size, rng)
        bar = tqdm(batches, desc=f"tuning, epoch {epoch + 1}/{epochs}", unit="batch", disable=not progress)
        for batch in bar:
            features = [tokenize([p[0] for p in batch]), tokenize([p[1] for p in batch])]
            value = loss(features, None)
            value.backward()
            optimizer.step()
            optimizer.zero_grad()
            bar.set_postfix(loss=f"{value.item():.3f}")
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save(str(out_dir))
    return out_dir


def uses(spec: str, part: str) -> bool:
    """Whether encoder ``spec`` is ``part`` or an ensemble that contains it."""
    return part in spec.partition("@")[0].split("+")


def _replace_part(spec: str, base_spec: str, new_spec: str) -> str:
    """``spec`` with the encoder ``base_spec`` swapped for ``new_spec`` (inside an ensemble too)."""
    names, at, weights = spec.partition("@")
    parts = [new_spec if p == base_spec else p for p in names.split("+")]
    return "+".join(parts) + at + weights


def _measure(
    encoder: Encoder | None, articles: Sequence[IndexedArticle], validation: Sequence[LabelledQuestion]
) -> tuple[dict, dict, str]:
    report = evaluate_kb(articles, validation, {}, encoder)
    return report.calibration.metrics["validation"], report.calibration.parameters(), report.encoder


def _better(after: dict, before: dict, min_gain: float) -> bool:
    """In-scope accuracy up by at least ``min_gain``. Both are measured at thresholds that reach the
    same out-of-scope recall and confidently-wrong limits on these questions (see calibrate), so
    the one number compares them."""
    return after["in_scope_accuracy"] - before["in_scope_accuracy"] >= min_gain - 1e-9


def tune(
    articles: Sequence[IndexedArticle],
    validation: Sequence[LabelledQuestion],
    *,
    spec: str,
    base_spec: str,
    base_path: str,
    models_dir: Path,
    confirmed: Sequence[tuple[str, str]] = (),
    epochs: int = 1,
    batch_size: int = 16,
    min_gain: float = 0.005,
    progress: bool = True,
) -> TuneResult:
    """Fine-tune ``base_path`` (the model of encoder ``base_spec``, which is ``spec`` or part of it),
    measure ``spec`` before and with the tuned model on ``validation``, keep the model under
    ``models_dir`` only if it is better by ``min_gain`` of in-scope accuracy."""
    if not any(q.article for q in validation) or not any(q.article is None for q in validation):
        raise ValueError("tuning is judged on validation questions: give in-scope and out-of-scope ones")
    check_labels(articles, validation, "validation")
    pairs = training_pairs(articles, confirmed)
    if len(pairs) < 2:
        raise ValueError("the knowledge base has too few alternative questions to learn from")
    before, _, _ = _measure(get_encoder(spec), articles, validation)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    out = models_dir / f"tuned-{stamp}"
    fine_tune(base_path, pairs, out, epochs=epochs, batch_size=batch_size, progress=progress)
    candidate = _replace_part(spec, base_spec, f"st:{out}")
    if candidate == spec:
        raise ValueError(f"encoder {spec!r} does not use {base_spec!r}: nothing to compare the tuned model with")
    after, parameters, name = _measure(get_encoder(candidate), articles, validation)
    kept = _better(after, before, min_gain)
    if not kept:
        shutil.rmtree(out, ignore_errors=True)
    n_confirmed = len(pairs) - len(training_pairs(articles))
    return TuneResult(spec, candidate, name, before, after, kept, out if kept else None, len(pairs), n_confirmed, parameters)
