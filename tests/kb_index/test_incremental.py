"""The index changes in place: whatever editors publish, edit, unpublish, and however often the hub
restarts, customers get the same answers as from an index built afresh from the same articles."""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Sequence
from pathlib import Path

import bm25s
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kb_index
from handoff import DEFAULT_TEAMS
from hub.settings import ROOT, Settings
from kb_index import EmbeddingCache, Encoder, IndexedArticle, KnowledgeIndex
from kb_index.lexical import LexicalIndex
from kb_index.vectors import VectorStore

SENTENCES = [
    "qual o prazo de entrega para o meu endereço",
    "como pago com pix",
    "esqueci a minha senha e não consigo entrar",
    "posso trocar um produto com defeito",
    "onde está a minha encomenda",
    "how do I track my order",
    "can I pay with a credit card",
    "the parcel arrived damaged",
    "vocês entregam no sábado",
    "quero cancelar a compra",
]
PROBES = [
    ("prazo de entrega", "pt-BR"),
    ("pagar com pix ou cartão", "pt-BR"),
    ("track my parcel", "en"),
    ("senha esquecida", "pt-PT"),
    ("produto chegou com defeito, quero trocar", "pt-BR"),
]


class TrigramEncoder(Encoder):
    """A small deterministic encoder (hashed character trigrams): real text in, unit vectors out,
    fast enough for hundreds of hypothesis examples. Queries and passages differ slightly, as with
    e5's prefixes."""

    name = "trigram-test"
    dim = 48

    def _encode(self, texts: Sequence[str], salt: str) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            padded = f"  {salt}{text.lower()} "
            for i in range(len(padded) - 2):
                h = int.from_bytes(hashlib.blake2b(padded[i : i + 3].encode(), digest_size=4).digest(), "little")
                out[row, h % self.dim] += 1.0 if h & 1 << 20 else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-6)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, "")

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, "~")


ENCODER = TrigramEncoder()

articles_st = st.builds(
    lambda id_, lang, title, questions, body: IndexedArticle(id_, lang, title, body, tuple(questions), "geral"),
    st.sampled_from(["entrega", "pix", "senha", "troca"]),
    st.sampled_from(["pt-BR", "en"]),
    st.sampled_from(SENTENCES),
    st.lists(st.sampled_from(SENTENCES), max_size=3),
    st.lists(st.sampled_from(SENTENCES), max_size=4).map(lambda ps: "\n\n".join(ps * 8)),  # bodies of 0-4 chunks
)
operations_st = st.lists(
    st.one_of(
        st.tuples(st.just("publish"), articles_st),
        st.tuples(st.just("unpublish"), st.sampled_from(["entrega", "pix", "senha", "troca"]), st.sampled_from(["pt-BR", "en"])),
        st.tuples(st.just("restart")),
    ),
    max_size=25,
)


def scores_of(index: KnowledgeIndex) -> list[dict]:
    return index.raw_scores([q for q, _ in PROBES], [lang for _, lang in PROBES])


def assert_same_answers(index: KnowledgeIndex, fresh: KnowledgeIndex) -> None:
    """The same candidate articles with the same dense and BM25 scores, so the same ranking."""
    assert sorted(a.key for a in index.articles()) == sorted(a.key for a in fresh.articles())
    for got, want in zip(scores_of(index), scores_of(fresh)):
        assert got.keys() == want.keys()
        for key in want:
            assert got[key] == pytest.approx(want[key], rel=1e-5, abs=1e-6)
    for (_question, lang), got, want in zip(PROBES, scores_of(index), scores_of(fresh)):
        got_ranked, want_ranked = ranking(index, got, lang), ranking(fresh, want, lang)
        assert [key for key, _ in got_ranked] == [key for key, _ in want_ranked]
        # Rounding to 5 places can still split two values a last bit apart (…945 vs …9449999).
        assert [v for _, v in got_ranked] == pytest.approx([v for _, v in want_ranked], abs=2e-5)


def ranking(index: KnowledgeIndex, scores: dict, lang: str) -> list:
    """Ranked articles with scores to 5 places (a dot product may differ in its last bit with the
    vector's place in memory, which must not flip two articles tied on the same text)."""
    ranked = [(key, round(value, 5)) for key, value in index.rank(scores, lang, beta=0.2, kappa=5.0)]
    return sorted(ranked, key=lambda kv: (-kv[1], kv[0]))


def replay(operations: list, directory: Path, **options) -> tuple[KnowledgeIndex, dict]:
    """Apply the editors' operations to an index kept in ``directory``; returns it and what is published."""
    published: dict[tuple[str, str], IndexedArticle] = {}
    index = KnowledgeIndex(ENCODER, store_dir=directory, progress=False, **options)
    for op in operations:
        if op[0] == "publish":
            index.upsert([op[1]])
            published[op[1].key] = op[1]
        elif op[0] == "unpublish":
            index.remove(op[1], op[2])
            published.pop((op[1], op[2]), None)
        else:
            index.close()
            index = KnowledgeIndex(ENCODER, store_dir=directory, progress=False, **options)
    return index, published


def fresh_index(published: dict) -> KnowledgeIndex:
    index = KnowledgeIndex(ENCODER, progress=False)
    index.upsert(published.values())
    return index


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations_st)
def test_any_sequence_of_publishes_edits_unpublishes_and_restarts_answers_like_a_fresh_build(operations: list) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        index, published = replay(operations, Path(tmp))
        try:
            assert_same_answers(index, fresh_index(published))
        finally:
            index.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations_st)
def test_with_the_approximate_index_built_in_the_background_answers_stay_the_same(operations: list) -> None:
    # A tiny threshold switches IVF on after a few passages; probing every list makes it exhaustive,
    # so any difference from a fresh exact build is an update that was lost or came back.
    with tempfile.TemporaryDirectory() as tmp:
        index, published = replay(operations, Path(tmp), approx_threshold=6, approx_nprobe=4096, background=True)
        try:
            fresh = fresh_index(published)
            assert_same_answers(index, fresh)  # possibly while a build runs: current index + changes
            index.vectors.wait()
            assert_same_answers(index, fresh)
        finally:
            index.close()


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.lists(st.sampled_from("abcdefgh"), max_size=6), min_size=1, max_size=30),
    st.lists(st.integers(0, 29), max_size=10),
    st.lists(st.sampled_from("abcdefghz"), min_size=1, max_size=5),
)
def test_bm25_scores_are_those_of_bm25s_over_the_same_passages(corpus: list, removed: list, query: list) -> None:
    index = LexicalIndex()
    for pid, passage in enumerate(corpus):
        index.add(pid, passage)
    for pid in removed:
        index.remove(pid)
    live = [pid for pid in range(len(corpus)) if pid not in set(removed)]
    pids, got = index.scores(query)
    if not live:
        assert len(pids) == 0
        return
    model = bm25s.BM25()
    model.index([corpus[pid] or ["\u2205"] for pid in live], show_progress=False)
    want = model.get_scores(query)
    expected = {pid: float(s) for pid, s in zip(live, want) if s > 0}
    assert dict(zip(pids.tolist(), got.tolist())) == pytest.approx(expected, rel=1e-5)


def test_the_approximate_index_finds_what_exact_search_finds_on_real_embeddings(tmp_path: Path) -> None:
    # Real sentences through the real encoder; the store past its threshold with its default nprobe.
    settings_ = Settings(environment="test")
    encoder = kb_index.get_encoder(settings_.encoder)
    drafts, _ = kb_index.load_kb_dir(ROOT / "data" / "kb", teams=DEFAULT_TEAMS)
    texts = sorted({t for d in drafts for t in (d.title, *d.questions)})
    cache = EmbeddingCache(tmp_path / "cache.npz")
    vectors = cache.encode(encoder, texts, passages=False)
    store = VectorStore(encoder.dim, encoder=encoder.name, approx_threshold=len(texts) // 2, background=False, progress=False)
    store.add(np.arange(len(texts)) * 11 + 5, vectors)
    assert store.kind == "ivf"
    queries = encoder.encode_queries(["qual o prazo de entrega?", "how do I reset my password?", "posso pagar com pix?"])
    approx_scores, approx_ids = store.search(queries, 10)
    exact_scores, exact_ids = store.exact_search(queries, 10)
    for row in range(len(queries)):
        assert len(set(approx_ids[row]) & set(exact_ids[row])) >= 9
        assert approx_ids[row][0] == exact_ids[row][0]
    np.testing.assert_allclose(approx_scores[:, 0], exact_scores[:, 0], rtol=1e-5)  # exact cosines, not 8-bit ones


def test_the_hub_index_reopens_with_its_articles_and_vectors_without_encoding_again(tmp_path: Path, index_cache: Path) -> None:
    settings_ = Settings(environment="test")
    encoder = kb_index.get_encoder(settings_.encoder)
    calibration = kb_index.Calibration.load(ROOT / "data" / "kb" / "calibration.json", encoder.name)
    drafts, _ = kb_index.load_kb_dir(ROOT / "data" / "kb", teams=DEFAULT_TEAMS)
    articles = [IndexedArticle(d.id, d.lang, d.title, d.body, tuple(d.questions), d.team) for d in drafts]
    cache = EmbeddingCache(index_cache / f"embeddings-{encoder.name.replace(':', '_')}.npz")
    store = tmp_path / "store"

    index = KnowledgeIndex(encoder, calibration, cache=cache, store_dir=store)
    index.upsert(articles)
    edited = IndexedArticle(
        "prazo-de-entrega",
        "pt-BR",
        "Prazo de entrega",
        "Entregamos em 2 dias úteis em todo o Brasil.",
        ("quanto tempo demora a entrega?",),
        "logistica",
    )
    index.upsert([edited])
    index.remove("esqueci-senha", "pt-BR")
    index.close()

    class Counting(Encoder):
        """The real encoder, counting the texts it is given."""

        name, dim = encoder.name, encoder.dim
        encoded = 0

        def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
            Counting.encoded += len(texts)
            return encoder.encode_queries(texts)

        def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
            Counting.encoded += len(texts)
            return encoder.encode_passages(texts)

    reopened = KnowledgeIndex(Counting(), calibration, cache=EmbeddingCache(None), store_dir=store)
    assert Counting.encoded == 0  # the vectors came from the directory
    try:
        assert ("esqueci-senha", "pt-BR") not in {a.key for a in reopened.articles()}
        result = reopened.search("quanto tempo demora a entrega?", "pt-BR")
        assert result.best.article_id == "prazo-de-entrega"
        assert result.best.body == edited.body
        fresh = KnowledgeIndex(encoder, calibration, cache=cache)
        fresh.upsert([a for a in articles if a.key not in {edited.key, ("esqueci-senha", "pt-BR")}] + [edited])
        questions = [
            "como rastreio meu pedido?",
            "esqueci minha senha",
            "quanto tempo demora a entrega?",
            "how can I track my order?",
        ]
        langs = ["pt-BR", "pt-BR", "pt-BR", "en"]
        assert [r.hits for r in reopened.search_many(questions, langs)] == [r.hits for r in fresh.search_many(questions, langs)]
    finally:
        reopened.close()


def test_a_second_process_reads_the_directory_but_never_writes_it(tmp_path: Path) -> None:
    writer = KnowledgeIndex(ENCODER, store_dir=tmp_path, progress=False)
    writer.upsert([IndexedArticle("pix", "pt-BR", "Pagamento com Pix", "Aceitamos Pix.", ("posso pagar com pix?",))])
    reader = KnowledgeIndex(ENCODER, store_dir=tmp_path, progress=False)
    assert [a.id for a in reader.articles()] == ["pix"]
    reader.upsert([IndexedArticle("boleto", "pt-BR", "Boleto", "Aceitamos boleto.")])  # in memory only
    reader.close()
    writer.close()
    again = KnowledgeIndex(ENCODER, store_dir=tmp_path, progress=False)
    assert [a.id for a in again.articles()] == ["pix"]
    again.close()


def test_a_journal_cut_short_by_a_crash_loses_only_the_unfinished_change(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(3, 8)).astype(np.float32)
    store = VectorStore(8, encoder="e", path=tmp_path, progress=False)
    store.add([1, 2], vectors[:2])
    store.add([3], vectors[2:])
    store.close()
    journal = max(tmp_path.glob("journal.*.bin"))
    journal.write_bytes(journal.read_bytes()[:-5])  # the last add half written
    reopened = VectorStore(8, encoder="e", path=tmp_path, progress=False)
    assert reopened.ids() == {1, 2}
    reopened.close()


def test_a_store_made_by_another_encoder_is_not_used(tmp_path: Path) -> None:
    store = VectorStore(8, encoder="one", path=tmp_path, progress=False)
    store.add([1], np.ones((1, 8), dtype=np.float32))
    store.close()
    other = VectorStore(16, encoder="two", path=tmp_path, progress=False)
    assert len(other) == 0
    other.add([7], np.ones((1, 16), dtype=np.float32))
    other.close()
    assert VectorStore(16, encoder="two", path=tmp_path, progress=False).ids() == {7}


def test_changes_made_while_the_approximate_index_builds_are_in_it_when_it_takes_over(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)

    def unit(n: int) -> np.ndarray:
        v = rng.normal(size=(n, 32)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    vectors = unit(40_000)
    ids = np.arange(40_000) * 2 + 1
    store = VectorStore(32, encoder="e", path=tmp_path, approx_threshold=30_000, nprobe=4096, progress=False)
    store.add(ids, vectors)  # past the threshold: the build starts in the background
    assert store.building and store.kind == "exact"
    removed = ids[:50]
    store.remove(removed)
    edited = ids[50:100]
    edited_vectors = unit(50)
    store.add(edited, edited_vectors)
    added = np.arange(1000) * 2 + 200_000
    added_vectors = unit(1000)
    store.add(added, added_vectors)
    assert store.building  # all of that happened while the index was being built

    def check(s: VectorStore) -> None:
        assert not set(removed.tolist()) & set(s.search(vectors[:50], 10)[1].ravel().tolist())
        assert (s.search(edited_vectors, 1)[1][:, 0] == edited).all()
        assert (s.search(added_vectors, 1)[1][:, 0] == added).all()
        assert (s.search(vectors[100:150], 1)[1][:, 0] == ids[100:150]).all()
        assert len(s) == 40_000 - 50 + 1000

    check(store)  # exact search plus the changes, while building
    store.wait()
    assert store.kind == "ivf"
    check(store)
    store.close()
    reopened = VectorStore(32, encoder="e", path=tmp_path, approx_threshold=30_000, nprobe=4096, background=False, progress=False)
    assert reopened.kind == "ivf" and not reopened.building  # the index came from the snapshot
    check(reopened)
    reopened.close()


def test_two_versions_of_an_article_in_one_batch_leave_only_the_last(tmp_path: Path) -> None:
    first = IndexedArticle("pix", "pt-BR", "Pagamento com Pix", "Aceitamos Pix.", ("posso pagar com pix?",))
    second = IndexedArticle("pix", "pt-BR", "Pix", "Pix e boleto.", ("aceitam boleto?",))
    index = KnowledgeIndex(ENCODER, store_dir=tmp_path, progress=False)
    index.upsert([first, second])
    assert len(index.vectors) == index.passage_count
    assert_same_answers(index, fresh_index({second.key: second}))
    index.close()
