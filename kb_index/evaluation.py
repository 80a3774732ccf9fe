"""Measuring the search on labelled questions, and fitting the thresholds on validation ones.

Definitions (shared with the benchmark): a query is *escalated* when the decision is escalate;
in_scope_accuracy = in-scope queries not escalated whose top-1 article is right; oos_recall =
out-of-scope queries escalated; confidently_wrong = in-scope queries answered (not clarified) with
a wrong top-1; top1_accuracy = right article first whatever the decision; top3_recall = right
article among the first three.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kb_index.index import Calibration, KnowledgeIndex

# The most confidently-wrong answers we accept when fitting the answer threshold.
MAX_CONFIDENTLY_WRONG = 0.03
_BETAS = (0.0, 0.05, 0.1, 0.2, 0.35)
_KAPPAS = (2.0, 5.0, 10.0)


@dataclass(frozen=True)
class LabelledQuestion:
    text: str
    lang: str
    article: str | None  # None: out of scope, must be escalated


def read_jsonl(path: Path) -> list[LabelledQuestion]:
    """Labelled questions from JSON lines ``{"text", "lang", "article"}``."""
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            out.append(LabelledQuestion(row["text"], row.get("lang", "pt-BR"), row.get("article")))
        except (json.JSONDecodeError, KeyError) as exc:
            raise ValueError(f"{path}:{n}: expected {{\"text\", \"lang\", \"article\"}} ({exc})") from exc
    return out


@dataclass
class _Scored:
    """Per question: ranked (article id, fused score) pairs for one (beta, kappa)."""

    article: str | None
    ranked: list[tuple[str, float]]


def _score(index: KnowledgeIndex, questions: Sequence[LabelledQuestion], raw, beta: float, kappa: float) -> list[_Scored]:
    out = []
    for q, scores in zip(questions, raw):
        ranked = index.rank(scores, q.lang, beta=beta, kappa=kappa)
        out.append(_Scored(q.article, [(key[0], value) for key, value in ranked[:3]]))
    return out


def metrics(scored: Sequence[_Scored], t_answer: float, t_clarify: float) -> dict[str, float]:
    """The definitions above, for given thresholds."""
    inside = [s for s in scored if s.article is not None]
    outside = [s for s in scored if s.article is None]

    def conf(s: _Scored) -> float:
        return s.ranked[0][1] if s.ranked else float("-inf")

    def top1(s: _Scored) -> str | None:
        return s.ranked[0][0] if s.ranked else None

    n_in = max(len(inside), 1)
    return {
        "in_scope_accuracy": sum(conf(s) >= t_clarify and top1(s) == s.article for s in inside) / n_in,
        "oos_recall": sum(conf(s) < t_clarify for s in outside) / max(len(outside), 1),
        "confidently_wrong": sum(conf(s) >= t_answer and top1(s) != s.article for s in inside) / n_in,
        "top1_accuracy": sum(top1(s) == s.article for s in inside) / n_in,
        "top3_recall": sum(s.article in [a for a, _ in s.ranked[:3]] for s in inside) / n_in,
        "answered": sum(conf(s) >= t_answer for s in inside) / n_in,
        "in_scope": len(inside),
        "out_of_scope": len(outside),
    }


def _fit_thresholds(scored: Sequence[_Scored]) -> tuple[float, float, float]:
    """Escalation threshold that balances in-scope accuracy and out-of-scope recall, then the lowest
    answer threshold whose confidently-wrong rate stays within the limit. Returns (objective, t_answer, t_clarify)."""
    confidences = sorted({round(s.ranked[0][1], 4) for s in scored if s.ranked})
    if not confidences:
        return (0.0, 1.0, 1.0)
    candidates = np.unique(np.quantile(confidences, np.linspace(0, 1, 201)))
    best = (-1.0, 1.0, 1.0)
    for t_clarify in candidates:
        m = metrics(scored, float("inf"), float(t_clarify))
        objective = (m["in_scope_accuracy"] + m["oos_recall"]) / 2
        if objective > best[0]:
            best = (objective, float("inf"), float(t_clarify))
    objective, _, t_clarify = best
    t_answer = float("inf")
    for t in sorted(c for c in candidates if c >= t_clarify):
        if metrics(scored, float(t), t_clarify)["confidently_wrong"] <= MAX_CONFIDENTLY_WRONG:
            t_answer = float(t)
            break
    if t_answer == float("inf"):
        t_answer = float(max(candidates)) + 1.0  # never answer outright: always offer choices
    return (objective, t_answer, t_clarify)


def calibrate(index: KnowledgeIndex, validation: Sequence[LabelledQuestion]) -> Calibration:
    """Fit fusion weights and thresholds on ``validation`` and set them on the index."""
    if not any(q.article for q in validation) or not any(q.article is None for q in validation):
        raise ValueError("calibration needs both in-scope and out-of-scope validation questions")
    raw = index.raw_scores([q.text for q in validation], [q.lang for q in validation])
    betas = _BETAS if index.encoder is not None else (1.0,)
    best: tuple[float, Calibration] | None = None
    for beta in betas:
        for kappa in _KAPPAS if beta > 0 else (_KAPPAS[0],):
            scored = _score(index, validation, raw, beta, kappa)
            objective, t_answer, t_clarify = _fit_thresholds(scored)
            if best is None or objective > best[0]:
                cal = Calibration(index.encoder_name, beta, kappa, round(t_answer, 4), round(t_clarify, 4))
                cal.metrics = {"validation": metrics(scored, t_answer, t_clarify)}
                best = (objective, cal)
    assert best is not None
    index.calibration = best[1]
    return best[1]


def evaluate(index: KnowledgeIndex, test: Sequence[LabelledQuestion]) -> dict[str, float]:
    """The metrics of the calibrated index on ``test``."""
    cal = index.calibration
    if cal is None:
        raise ValueError("calibrate the index before evaluating it")
    raw = index.raw_scores([q.text for q in test], [q.lang for q in test])
    return metrics(_score(index, test, raw, cal.beta, cal.kappa), cal.t_answer, cal.t_clarify)
