"""The knowledge base's REST API (editors write, agents suggest, everyone on staff reads) and the
editors' page. Routes parse and check access; every change is one kb_index function in one unit of
work, after which this process's index follows the change log at once (the others within their
next poll)."""

from __future__ import annotations

import asyncio
import re
import secrets
import unicodedata
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from markdown_it import MarkdownIt
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

import handoff
import kb_index
from core.languages import Language, page_language
from core.models import utcnow
from core.web import DB_INT_MAX, DB_INT_MIN, DbInt, app_state, page_templates
from handoff import Role, User
from handoff.audit import AuditAction, AuditClient, record_audit
from handoff.auth import DbSession, csrf_protected, csrf_token, page_user, require_roles
from kb_index import Article, ArticleDraft, ArticleFileError
from kb_index.editor_texts import editor_texts
from kb_index.markdown import MAX_BODY_CHARS

api = APIRouter(prefix="/api/kb", tags=["knowledge base"])
pages = APIRouter(include_in_schema=False)
templates = page_templates(Path(__file__).parent / "templates")
Editor = Annotated[User, Depends(require_roles(Role.EDITOR, Role.ADMIN))]
Staff = Annotated[User, Depends(require_roles(Role.AGENT, Role.EDITOR, Role.SUPERVISOR, Role.ADMIN))]
Agent = Annotated[User, Depends(require_roles(Role.AGENT, Role.SUPERVISOR, Role.ADMIN, Role.EDITOR))]
EditorPage = Annotated[
    User, Depends(page_user(Role.EDITOR, Role.ADMIN, refusal="the knowledge-base editor is for editors and admins"))
]
Lang = Language
# Raw HTML in an article is shown as text, never run: html off. markdown-it also refuses
# javascript:/vbscript:/file: links by default.
_markdown = MarkdownIt("commonmark", {"html": False})


def render_markdown(body: str) -> str:
    """An article body as safe HTML (what the editor's preview shows)."""
    return _markdown.render(body)


class ArticleIn(BaseModel):
    """A new article (stored as a draft; publish it separately). Checked by kb_index for clear errors."""

    id: str = Field(max_length=200, description="lowercase letters, digits and dashes, e.g. prazo-de-entrega")
    lang: str = Field(max_length=20, description="pt-BR, pt-PT or en")
    title: str = Field(max_length=1000)
    body: str = Field(max_length=MAX_BODY_CHARS * 5, description=f"Markdown, at most {MAX_BODY_CHARS} characters")
    team: str = Field("geral", max_length=100)
    questions: list[Annotated[str, Field(max_length=1000)]] = Field(default_factory=list, max_length=200)
    tags: list[Annotated[str, Field(max_length=100)]] = Field(default_factory=list, max_length=50)


class ArticleEdit(BaseModel):
    """New text of an article, with the version the editor started from."""

    version: DbInt = Field(description="the version you edited; a newer one saved meanwhile refuses the save (409)")
    title: str = Field(max_length=1000)
    body: str = Field(max_length=MAX_BODY_CHARS * 5)
    team: str = Field("geral", max_length=100)
    questions: list[Annotated[str, Field(max_length=1000)]] = Field(default_factory=list, max_length=200)
    tags: list[Annotated[str, Field(max_length=100)]] = Field(default_factory=list, max_length=50)


class VersionIn(BaseModel):
    version: DbInt | None = Field(None, description="the version you saw (optional): a newer one refuses the change (409)")


class RevertIn(BaseModel):
    to: DbInt = Field(description="the version whose text comes back (as a new version)")
    version: DbInt | None = Field(None, description="the current version you saw")


class ArticleOut(BaseModel):
    id: str
    lang: str
    title: str
    body: str
    team: str
    questions: list[str]
    tags: list[str]
    status: str
    version: int
    author: str
    updated_at: datetime
    suggested_by: str | None

    @classmethod
    def of(cls, article: Article) -> ArticleOut:
        return cls.model_validate(article, from_attributes=True)


class VersionOut(BaseModel):
    version: int
    author: str
    at: datetime
    status: str
    title: str


class HitOut(BaseModel):
    id: str
    lang: str
    title: str
    team: str
    score: float


class TryOut(BaseModel):
    """What the bot would do with a question."""

    decision: Literal["answer", "clarify", "escalate"]
    confidence: float
    hits: list[HitOut]
    t_answer: float | None = None
    t_clarify: float | None = None


class ClusterOut(BaseModel):
    representative: str
    lang: str
    customers: int
    count: int
    questions: list[str]
    last_asked: datetime | None
    best_article: str | None


class PreviewIn(BaseModel):
    body: str = Field(max_length=MAX_BODY_CHARS * 5)


class FromMessageIn(BaseModel):
    conversation_id: str = Field(max_length=36)
    message_id: DbInt


async def _teams(request: Request) -> list[str]:
    async with request.app.state.desk.sessions() as session:
        return await handoff.team_ids(session)


def _draft(values: dict, teams: list[str]) -> ArticleDraft:
    try:
        return kb_index.check_article(values, teams=teams)
    except ArticleFileError as exc:
        raise HTTPException(422, f"{exc.field}: {exc.problem}") from exc


def _refusal(exc: kb_index.ArticleError) -> HTTPException:
    status = 404 if isinstance(exc, kb_index.ArticleNotFound) else 409
    return HTTPException(status, str(exc))


async def _changed(request: Request, *, published: Article | None = None) -> None:
    """After a commit: this process's index takes the change at once; when ``published`` (an
    article the bot answers with now) is given, the questions it answers leave the unanswered list."""
    await app_state(request).kb_follower.catch_up()
    if published is not None and published.status == "published":
        await _settle_unanswered(request, published)


async def _settle_unanswered(request: Request, article: Article) -> None:
    """The open questions closest in wording to the article's title and alternative questions are
    re-run now, every other one of its language family in the background (``kb_index.settling``)."""
    await app_state(request).unanswered.after_publish(lang=article.lang, wording=[article.title, *article.questions])


# -- reading ----------------------------------------------------------------------------------------


@api.get("/articles", response_model=list[ArticleOut])
async def list_articles(
    user: Staff,
    session: DbSession,
    lang: Annotated[str | None, Query(max_length=8)] = None,
    team: Annotated[str | None, Query(max_length=40)] = None,
    status: Literal["draft", "published", ""] | None = None,
    q: Annotated[str | None, Query(max_length=200, description="words in the id, title, body or questions")] = None,
    suggested: bool | None = Query(None, description="only agents' suggestions (true) or only editors' articles (false)"),
) -> list[ArticleOut]:
    """Articles matching the filters, the most recently changed first."""
    rows = await kb_index.list_articles(
        session, lang=lang or None, team=team or None, status=status or None, text=(q or "").strip() or None, suggested=suggested
    )
    return [ArticleOut.of(a) for a in rows]


@api.get("/articles/{article_id}/{lang}", response_model=ArticleOut)
async def get_article(article_id: str, lang: str, user: Staff, session: DbSession) -> ArticleOut:
    """One article, drafts included."""
    try:
        return ArticleOut.of(await kb_index.get_article(session, article_id, lang))
    except kb_index.ArticleError as exc:
        raise _refusal(exc) from exc


@api.get("/articles/{article_id}/{lang}/versions", response_model=list[VersionOut])
async def versions(article_id: str, lang: str, user: Staff, session: DbSession) -> list[VersionOut]:
    """The article's versions, newest first."""
    try:
        rows = await kb_index.article_versions(session, article_id, lang)
    except kb_index.ArticleError as exc:
        raise _refusal(exc) from exc
    return [
        VersionOut(
            version=v.version, author=v.author, at=v.at, status=v.snapshot.get("status", "draft"), title=v.snapshot["title"]
        )
        for v in rows
    ]


@api.get("/articles/{article_id}/{lang}/diff", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def diff(
    article_id: str,
    lang: str,
    user: Staff,
    session: DbSession,
    old: Annotated[int, Query(alias="from", ge=DB_INT_MIN, le=DB_INT_MAX)],
    new: Annotated[int, Query(alias="to", ge=DB_INT_MIN, le=DB_INT_MAX)],
) -> Response:
    """A unified diff between two versions (their Markdown files)."""
    try:
        text = await kb_index.diff_versions(session, article_id, lang, old, new)
    except kb_index.ArticleError as exc:
        raise _refusal(exc) from exc
    return Response(text, media_type="text/plain; charset=utf-8")


def _try_out(request: Request, result: kb_index.SearchResult) -> TryOut:
    calibration = app_state(request).desk.index.calibration
    return TryOut(
        decision=result.decision.value,
        confidence=result.confidence,
        hits=[HitOut(id=h.article_id, lang=h.lang, title=h.title, team=h.team, score=h.score) for h in result.hits],
        t_answer=calibration.t_answer if calibration else None,
        t_clarify=calibration.t_clarify if calibration else None,
    )


async def _search(request: Request, q: str, lang: str) -> TryOut:
    limit = app_state(request).settings.max_message_chars
    if not q.strip() or len(q) > limit:
        raise HTTPException(422, f"give a question of 1 to {limit} characters")
    return _try_out(request, await app_state(request).desk.search(q, lang))


@api.get("/search", response_model=TryOut)
async def search(request: Request, user: Staff, q: str, lang: Annotated[str, Query(max_length=8)] = "pt-BR") -> TryOut:
    """What the bot would do with a question: ranked articles, confidence and decision (an unknown
    language is searched as pt-BR). For staff: each question is encoded, a core's work that
    anonymous callers could ask for without end."""
    return await _search(request, q, lang if lang in kb_index.LANGUAGES else "pt-BR")


@api.get("/try", response_model=TryOut)
async def try_it(request: Request, user: Staff, q: str, lang: Lang = "pt-BR") -> TryOut:
    """The editor's "try it" box: what the bot would answer now, with the thresholds it decides by."""
    return await _search(request, q, lang)


@api.post("/preview", dependencies=[Depends(csrf_protected)])
async def preview(body: PreviewIn, user: Staff) -> dict:
    """The body rendered as the editor's preview shows it (HTML in it is shown as text)."""
    return {"html": render_markdown(body.body)}


@api.get("/unanswered/clusters", response_model=list[ClusterOut])
async def clusters(
    request: Request,
    user: Editor,
    session: DbSession,
    lang: Annotated[str | None, Query(max_length=8)] = None,
    days: Annotated[int, Query(ge=1, le=366)] = 30,
) -> list[ClusterOut]:
    """Questions the bot could not answer with confidence, grouped by similarity, the most asked first."""
    rows = await kb_index.unanswered_questions(session, since=utcnow() - timedelta(days=days), lang=lang or None)
    index = app_state(request).desk.index
    similarity = app_state(request).settings.kb_cluster_similarity
    # Encoding and grouping hundreds of questions takes seconds of CPU: off the event loop.
    found = await asyncio.to_thread(kb_index.cluster_questions, rows, index.encoder, similarity=similarity)
    return [ClusterOut.model_validate(c, from_attributes=True) for c in found]


# -- writing ------------------------------------------------------------------------------------


@api.post("/articles", response_model=ArticleOut, status_code=201, dependencies=[Depends(csrf_protected)])
async def create(body: ArticleIn, user: Staff, request: Request) -> ArticleOut:
    """A new draft. Editors and admins write articles; an agent's article is a suggestion for them."""
    draft = _draft(body.model_dump() | {"status": "draft"}, await _teams(request))
    suggested_by = user.name if user.role in (Role.AGENT.value, Role.SUPERVISOR.value) else None
    try:
        async with app_state(request).desk.unit_of_work() as session:
            article = await kb_index.create_article(session, draft, author=user.name, suggested_by=suggested_by)
    except kb_index.ArticleError as exc:
        raise _refusal(exc) from exc
    return ArticleOut.of(article)


@api.put("/articles/{article_id}/{lang}", response_model=ArticleOut, dependencies=[Depends(csrf_protected)])
async def edit(article_id: str, lang: str, body: ArticleEdit, user: Editor, request: Request) -> ArticleOut:
    """Save new text (a new version; a published article is answered with at once). 409 when someone
    saved after the version you edited: nothing is overwritten and your text stays in your form."""
    draft = _draft(body.model_dump(exclude={"version"}) | {"id": article_id, "lang": lang}, await _teams(request))
    try:
        async with app_state(request).desk.unit_of_work() as session:
            article = await kb_index.update_article(
                session, article_id, lang, draft, expected_version=body.version, author=user.name
            )
    except kb_index.ArticleError as exc:
        raise _refusal(exc) from exc
    await _changed(request, published=article)
    return ArticleOut.of(article)


async def _audit_article(
    request: Request, session: AsyncSession, user: User, action: AuditAction, article_id: str, lang: str, **details: object
) -> None:
    """Record what an editor did to an article, in the change's own transaction."""
    await record_audit(
        session,
        actor=user,
        action=action,
        target_type="article",
        target_id=f"{article_id}/{lang}",
        details=details,
        client=AuditClient.of(request),
    )


async def _status_change(
    request: Request,
    change,  # noqa: ANN001 - kb_index's publish or unpublish
    action: AuditAction,
    article_id: str,
    lang: str,
    user: User,
    version: int | None,
) -> ArticleOut:
    try:
        async with app_state(request).desk.unit_of_work() as session:
            article = await change(session, article_id, lang, author=user.name, expected_version=version)
            await _audit_article(request, session, user, action, article_id, lang, version=article.version, title=article.title)
    except kb_index.ArticleError as exc:
        raise _refusal(exc) from exc
    await _changed(request, published=article)
    return ArticleOut.of(article)


@api.post("/articles/{article_id}/{lang}/publish", response_model=ArticleOut, dependencies=[Depends(csrf_protected)])
async def publish(article_id: str, lang: str, user: Editor, request: Request, body: VersionIn | None = None) -> ArticleOut:
    """The bot answers with the article from now on, on every hub process within a second."""
    return await _status_change(
        request, kb_index.publish, AuditAction.ARTICLE_PUBLISH, article_id, lang, user, body.version if body else None
    )


@api.post("/articles/{article_id}/{lang}/unpublish", response_model=ArticleOut, dependencies=[Depends(csrf_protected)])
async def unpublish(article_id: str, lang: str, user: Editor, request: Request, body: VersionIn | None = None) -> ArticleOut:
    """Back to draft: the bot stops answering with it; text and history are kept."""
    return await _status_change(
        request, kb_index.unpublish, AuditAction.ARTICLE_UNPUBLISH, article_id, lang, user, body.version if body else None
    )


@api.post("/articles/{article_id}/{lang}/revert", response_model=ArticleOut, dependencies=[Depends(csrf_protected)])
async def revert(article_id: str, lang: str, body: RevertIn, user: Editor, request: Request) -> ArticleOut:
    """Bring back an earlier version's text, as a new version."""
    try:
        async with app_state(request).desk.unit_of_work() as session:
            article = await kb_index.revert_article(
                session, article_id, lang, body.to, author=user.name, expected_version=body.version
            )
    except kb_index.ArticleError as exc:
        raise _refusal(exc) from exc
    await _changed(request, published=article)
    return ArticleOut.of(article)


@api.delete("/articles/{article_id}/{lang}", status_code=204, dependencies=[Depends(csrf_protected)])
async def delete(article_id: str, lang: str, user: Editor, request: Request, version: DbInt | None = None) -> Response:
    """Delete the article and its history (unpublish keeps them)."""
    try:
        async with app_state(request).desk.unit_of_work() as session:
            gone = await kb_index.get_article(session, article_id, lang)
            title, last_version = gone.title, gone.version  # its history goes with it: the log keeps these
            await kb_index.delete_article(session, article_id, lang, expected_version=version)
            await _audit_article(
                request, session, user, AuditAction.ARTICLE_DELETE, article_id, lang, version=last_version, title=title
            )
    except kb_index.ArticleError as exc:
        raise _refusal(exc) from exc
    await _changed(request)
    return Response(status_code=204)


def _slug(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", folded).strip("-")[:50].strip("-") or "artigo"


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@api.post("/suggestions/from-message", response_model=ArticleOut, status_code=201, dependencies=[Depends(csrf_protected)])
async def suggest_from_message(body: FromMessageIn, user: Agent, request: Request) -> ArticleOut:
    """Turn an agent's reply into a draft article for an editor to review: the question is the
    customer's message before it, the body is the reply."""
    async with app_state(request).desk.unit_of_work() as session:
        try:
            conversation = await handoff.get_conversation(session, body.conversation_id)
        except handoff.ConversationNotFound as exc:
            raise HTTPException(404, str(exc)) from exc
        if not handoff.can_access(conversation, user, await handoff.user_team_ids(session, user)):
            raise HTTPException(403, "this conversation belongs to a team you are not in")
        history = await handoff.conversation_history(session, conversation.id, include_notes=False)
        position = next((i for i, m in enumerate(history) if m.id == body.message_id), None)
        if position is None or history[position].sender != "agent":
            raise HTTPException(422, "choose an agent's reply in this conversation")
        question = next((m.text for m in reversed(history[:position]) if m.sender == "customer" and m.text.strip()), None)
        if question is None:
            raise HTTPException(422, "this reply has no customer message before it to use as the question")
        reply = history[position].text
        teams = await handoff.team_ids(session)
        lang = conversation.language if conversation.language in kb_index.LANGUAGES else "pt-BR"
        draft = _draft(
            {
                "id": f"{_slug(question)}-{secrets.token_hex(3)}",
                "lang": lang,
                "title": _clip(question, 200),
                "body": reply,
                "team": conversation.team_id if conversation.team_id in teams else "geral",
                "questions": [_clip(question, 500)],
                "tags": ["sugestao"],
                "status": "draft",
            },
            teams,
        )
        try:
            article = await kb_index.create_article(session, draft, author=user.name, suggested_by=user.name)
        except kb_index.ArticleError as exc:
            raise _refusal(exc) from exc
        for asked in await handoff.asked_before(session, conversation.id, body.message_id):  # the other ways it was asked
            await kb_index.propose_question(
                session, text=asked, lang=lang, article_id=article.id, source="promoted", conversation_id=conversation.id
            )
    return ArticleOut.of(article)


# -- the page -------------------------------------------------------------------------------


@pages.get("/kb", response_class=HTMLResponse)
async def editor_page(request: Request, user: EditorPage, session: DbSession, lang: str | None = None) -> Response:
    """The editors' page: list, edit with preview, history, try it, unanswered questions."""
    chosen = page_language(lang, request.headers.get("accept-language"))
    texts = editor_texts(chosen)
    context = {
        "csrf": csrf_token(request),
        "user": user,
        "lang": chosen,
        "t": texts,
        "languages": kb_index.LANGUAGES,
        "teams": await handoff.team_ids(session),
    }
    return templates.TemplateResponse(request, "kb_editor.html", context)


router = APIRouter()
"""Everything of the knowledge base on the web: ``/api/kb/...`` and the editors' ``/kb`` page."""
router.include_router(api)
router.include_router(pages)
