"""What goes into the index and what comes out of it: the article it indexes, the signals it finds
for a question, the calibration that fuses them, and the hits and decision it returns."""

from __future__ import annotations

import enum
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import NamedTuple

ArticleKey = tuple[str, str]  # (article id, language)


class Decision(str, enum.Enum):
    ANSWER = "answer"
    CLARIFY = "clarify"
    ESCALATE = "escalate"


class NotCalibrated(Exception):
    """The index has no thresholds for this encoder; run ``balcao kb calibrate``."""


@dataclass(frozen=True)
class IndexedArticle:
    """What the index needs of a published article."""

    id: str
    lang: str
    title: str
    body: str
    questions: tuple[str, ...] = ()
    team: str = "geral"

    @property
    def key(self) -> ArticleKey:
        return (self.id, self.lang)


@dataclass(frozen=True)
class Hit:
    """One article found for a question, with its fused score and the passage of its body that
    best answers the question (the whole body when it is one passage)."""

    article_id: str
    lang: str
    title: str
    team: str
    score: float
    body: str
    passage: str = ""

    @property
    def answer(self) -> str:
        """What a customer is shown first: the passage, else the body."""
        return self.passage or self.body

    @property
    def is_excerpt(self) -> bool:
        """Whether the passage is only part of the article (a customer may want the rest)."""
        return bool(self.passage) and self.passage.strip() != self.body.strip()


@dataclass(frozen=True)
class SearchResult:
    """The ranked articles for a question and what the bot should do with them."""

    question: str
    lang: str
    hits: list[Hit]
    decision: Decision
    confidence: float

    @property
    def best(self) -> Hit | None:
        return self.hits[0] if self.hits else None


class Signals(NamedTuple):
    """What the index knows of one candidate article for one question, before fusion."""

    dense: float  # cosine of the article's best passage
    lexical: float  # BM25 of the article's best passage
    centroid: float = 0.0  # cosine to the mean vector of the article's title and questions
    head: float = 0.0  # probability the linear head gives the article (see kb_index.head.LinearHead)
    # The question's highest cosine to an out-of-scope example of its language family (the same
    # for every candidate of a question; 0 without examples, see KnowledgeIndex.set_out_of_scope).
    negative: float = 0.0


@dataclass
class Calibration:
    """Fusion weights and decision thresholds, fitted on validation questions for one encoder."""

    encoder: str
    beta: float  # weight of the lexical score beside the dense cosine
    kappa: float  # BM25 saturation: lexical = bm25 / (bm25 + kappa)
    t_answer: float  # answer at or above
    t_clarify: float  # offer choices at or above, escalate below
    metrics: dict = field(default_factory=dict)
    # Share of the dense score taken from the article's centroid instead of its best passage
    # (0 in files written before it existed: the best passage alone, as then).
    centroid: float = 0.0
    # Weight of the linear head's probability added to the cosine (0 in older files: no head).
    head: float = 0.0
    # Weight of the question's cosine to the nearest out-of-scope example, subtracted from the
    # confidence (0 in older files, and whenever the index has no such examples).
    negative: float = 0.0

    @classmethod
    def load(cls, path: Path, encoder: str) -> Calibration:
        """Read this encoder's calibration from the JSON file that holds one per encoder."""
        try:
            data = json.loads(path.read_text())[encoder]
        except (FileNotFoundError, KeyError) as exc:
            raise NotCalibrated(f"no calibration for encoder {encoder!r} in {path}; run `balcao kb calibrate`") from exc
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def parameters(self) -> dict[str, float]:
        """The fitted numbers (fusion weights and thresholds), without the validation metrics."""
        return {
            "t_answer": self.t_answer,
            "t_clarify": self.t_clarify,
            "beta": self.beta,
            "kappa": self.kappa,
            "centroid": self.centroid,
            "head": self.head,
            "negative": self.negative,
        }

    def save(self, path: Path) -> None:
        """Write (or replace) this encoder's entry in the JSON file."""
        data = json.loads(path.read_text()) if path.exists() else {}
        data[self.encoder] = asdict(self)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
