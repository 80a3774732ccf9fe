"""The linear head: a multinomial logistic regression over the vectors of the articles' titles and
questions (one class per article id and language family). It learns which directions tell articles
apart, which a plain cosine cannot; its probability is one of the signals fused into the confidence.

After a change the head is refitted in a background thread while searches go on with the previous
one (a new article is found by its cosines and BM25 at once, with no head probability until the
refit lands): its fit takes 0.2-1.5 s for the starter articles on this 2-core machine, which a
customer, or an editor's publish on another hub, must not wait for. Only an index that has never
had a head (just opened) fits it in the foreground, on ``train`` or the first search.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from kb_index.records import ArticleKey
from kb_index.text import language_family

logger = logging.getLogger(__name__)

# A fitted sklearn LogisticRegression (untyped) and its column per (article id, language family).
_Model = tuple[Any, dict[tuple[str, str], int]]
# Inverse regularisation, chosen on the Portuguese validation questions (1, 10 and 100 tried; the
# articles' few questions each need little regularisation to be told apart), and the size past which
# it is not trained (its training time grows with the questions: a large knowledge base ranks by the
# cosines and BM25 alone, and should be calibrated that way).
_HEAD_C = 100.0
_HEAD_MAX_QUESTIONS = 50_000


class LinearHead:
    """The head of one index, and the title and question vectors it is trained on.

    It shares the index's lock: ``rows`` is changed, and ``changed`` and ``current`` are called,
    with that lock held; the background fit takes it only to read its data and to install the result.
    """

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self.rows: dict[ArticleKey, np.ndarray] = {}  # per article: its title and questions vectors
        self._model: _Model | None = None
        self._generation = 0  # bumped on every change to ``rows``
        self._fitted = -1  # the generation the current model was fitted on
        self._thread: threading.Thread | None = None

    def changed(self) -> None:
        """``rows`` changed: the model is stale; refit it in the background if there is one to replace."""
        self._generation += 1
        if self._model is not None:
            self._schedule_fit()

    def train(self) -> None:
        """Refit now if the rows changed since the last fit, waiting for it (calibration, evaluation
        and a hub's start-up need the head that matches the articles)."""
        with self._lock:
            self._fit_now()

    def current(self) -> _Model | None:
        """The model to score with (None with fewer than two articles, or past the size). Fits it
        here only if the index never had one; otherwise a stale model is used while the
        background thread fits the new one."""
        if self._model is None and self._thread is None:
            self._fit_now()
        return self._model

    @staticmethod
    def probabilities_of(model: _Model, p_row: np.ndarray, keys: Sequence[ArticleKey]) -> list[float]:
        """Each article's probability in one question's row of ``predict_proba`` (0 if not a class)."""
        column = model[1]
        return [
            float(p_row[column[(key[0], language_family(key[1]))]]) if (key[0], language_family(key[1])) in column else 0.0
            for key in keys
        ]

    def wait(self, timeout: float | None = None) -> None:
        """Block until a background refit (if any) has landed; for tests and tools."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _data(self) -> tuple[np.ndarray, list[tuple[str, str]]] | None:
        labels: list[tuple[str, str]] = []
        rows: list[np.ndarray] = []
        for key, vectors in sorted(self.rows.items()):
            labels += [(key[0], language_family(key[1]))] * len(vectors)
            rows.append(vectors)
        if len(set(labels)) < 2 or len(labels) > _HEAD_MAX_QUESTIONS:
            return None
        return np.concatenate(rows), labels

    @staticmethod
    def _fit(x: np.ndarray, labels: list[tuple[str, str]]) -> _Model:
        from sklearn.linear_model import LogisticRegression

        column = {name: i for i, name in enumerate(sorted(set(labels)))}
        y = np.array([column[name] for name in labels])
        return LogisticRegression(C=_HEAD_C, max_iter=1000).fit(x, y), column

    def _fit_now(self) -> None:
        if self._fitted != self._generation:
            generation, data = self._generation, self._data()
            self._install(self._fit(*data) if data else None, generation)

    def _install(self, model: _Model | None, generation: int) -> None:
        """Use ``model`` unless a newer one is in place already (a refit in the foreground can finish
        before an older one in the background). Called with the lock held."""
        if generation > self._fitted:
            self._model, self._fitted = model, generation

    def _schedule_fit(self) -> None:
        """Start the background refit unless one is running (it loops until the model is current).
        Called with the lock held."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._fit_in_background, name="kb-head", daemon=True)
        self._thread.start()

    def _fit_in_background(self) -> None:
        try:
            while True:
                with self._lock:
                    if self._fitted == self._generation:
                        self._thread = None  # under the lock: a change after this starts a new thread
                        return
                    generation, data = self._generation, self._data()
                model = self._fit(*data) if data else None  # without the lock: searches go on meanwhile
                with self._lock:
                    self._install(model, generation)
        except Exception:  # searches keep the previous head; the next change tries again
            logger.exception("knowledge base: refitting the linear head failed")
            with self._lock:
                self._thread = None
