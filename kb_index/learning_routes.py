"""The editors' candidate questions (``kb_index.learning``): a JSON API and the page ``/kb/questions``
(plain forms drawn on the server, no script). Each approval or rejection is one kb_index function
in one unit of work; after an approval this process's index takes the new question at once (the
other processes within their next poll of the change log)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel

import kb_index
from core.languages import page_language
from core.web import DbInt, app_state, page_templates
from handoff import Role, User
from handoff.auth import DbSession, check_csrf, csrf_protected, csrf_token, page_user, require_roles
from insights.display import Display
from kb_index.editor_texts import editor_texts

api = APIRouter(prefix="/api/kb", tags=["knowledge base"])
pages = APIRouter(include_in_schema=False)
templates = page_templates(Path(__file__).parent / "templates")
Editor = Annotated[User, Depends(require_roles(Role.EDITOR, Role.ADMIN))]
EditorPage = Annotated[
    User, Depends(page_user(Role.EDITOR, Role.ADMIN, refusal="the knowledge-base editor is for editors and admins"))
]
PAGE = "/kb/questions"


class CandidateOut(BaseModel):
    """A candidate question waiting for an editor."""

    id: int
    text: str
    lang: str
    article_id: str
    article_title: str
    article_status: str
    source: str
    created_at: datetime


class DecisionOut(BaseModel):
    """What an approval or a rejection did: the candidate's state and, approved, the article's new version."""

    id: int
    state: str
    article_id: str
    lang: str
    article_version: int | None = None
    questions: list[str] | None = None


def _refusal(exc: kb_index.ArticleError) -> HTTPException:
    status = 404 if isinstance(exc, kb_index.CandidateNotFound | kb_index.ArticleNotFound) else 409
    return HTTPException(status, str(exc))


async def do_approve(request: Request, user: User, candidate_id: int) -> DecisionOut:
    """Approve in one unit of work, then let this process's index follow at once."""
    try:
        async with app_state(request).desk.unit_of_work() as session:
            candidate, article = await kb_index.approve_question(session, candidate_id, editor=user.name)
    except kb_index.ArticleError as exc:
        raise _refusal(exc) from exc
    await app_state(request).kb_follower.catch_up()
    return DecisionOut(
        id=candidate.id,
        state=candidate.state,
        article_id=article.id,
        lang=article.lang,
        article_version=article.version,
        questions=list(article.questions),
    )


async def do_reject(request: Request, user: User, candidate_id: int) -> DecisionOut:
    """Reject in one unit of work."""
    try:
        async with app_state(request).desk.unit_of_work() as session:
            candidate = await kb_index.reject_question(session, candidate_id, editor=user.name)
    except kb_index.ArticleError as exc:
        raise _refusal(exc) from exc
    return DecisionOut(id=candidate.id, state=candidate.state, article_id=candidate.article_id, lang=candidate.lang)


# -- the API --------------------------------------------------------------------------------------


@api.get("/candidates", response_model=list[CandidateOut])
async def candidates(user: Editor, session: DbSession, lang: Annotated[str | None, Query(max_length=8)] = None) -> list:
    """Customers' questions that use suggests an article answers, waiting for an editor, oldest first."""
    return [CandidateOut.model_validate(c, from_attributes=True) for c in await kb_index.pending_questions(session, lang=lang)]


@api.post("/candidates/{candidate_id}/approve", response_model=DecisionOut, dependencies=[Depends(csrf_protected)])
async def approve(candidate_id: DbInt, user: Editor, request: Request) -> DecisionOut:
    """The question becomes an alternative question of its article (answered at once when it is
    published). 409 when someone decided it already; 404 when it or its article is gone."""
    return await do_approve(request, user, candidate_id)


@api.post("/candidates/{candidate_id}/reject", response_model=DecisionOut, dependencies=[Depends(csrf_protected)])
async def reject(candidate_id: DbInt, user: Editor, request: Request) -> DecisionOut:
    """The question is not one of its article's: it leaves the list and is never proposed again."""
    return await do_reject(request, user, candidate_id)


# -- the page -------------------------------------------------------------------------------------


def _back(lang: str, **query: str) -> Response:
    return RedirectResponse(f"{PAGE}?{urlencode({'lang': lang, **query})}", status_code=303)


@pages.get(PAGE, response_class=HTMLResponse)
async def questions_page(request: Request, user: EditorPage, session: DbSession, lang: str | None = None) -> Response:
    """The candidate questions, each with approve and reject; what was just done, said at the top."""
    chosen = page_language(lang, request.headers.get("accept-language"))
    texts = editor_texts(chosen)
    done = request.query_params.get("done")
    context = {
        "csrf": csrf_token(request),
        "user": user,
        "lang": chosen,
        "t": texts,
        "rows": await kb_index.pending_questions(session),
        "show": Display(chosen, app_state(request).settings.report_timezone),
        "notice": texts.get(f"candidate_{done}") if done in ("approved", "rejected") else None,
        # Only the page's own words: a link cannot make the page say anything else.
        "error": texts["candidate_" + problem] if (problem := request.query_params.get("error")) in ("gone", "decided") else None,
    }
    return templates.TemplateResponse(request, "kb_questions.html", context)


@pages.post(PAGE + "/{candidate_id}/{verdict}")
async def decide_form(request: Request, candidate_id: DbInt, verdict: str, user: EditorPage) -> Response:
    """A row's approve or reject button: done, then back to the list saying so (or why not)."""
    form = await request.form()
    token = form.get("csrf_token")
    check_csrf(request, token if isinstance(token, str) else None)
    asked = form.get("lang")
    lang = page_language(asked if isinstance(asked, str) else None, request.headers.get("accept-language"))
    if verdict not in ("approve", "reject"):
        raise HTTPException(404, "approve or reject")
    try:
        await (do_approve if verdict == "approve" else do_reject)(request, user, candidate_id)
    except HTTPException as exc:
        return _back(lang, error="gone" if exc.status_code == 404 else "decided")
    return _back(lang, done="approved" if verdict == "approve" else "rejected")


router = APIRouter()
"""The candidate questions on the web: ``/api/kb/candidates...`` and the editors' ``/kb/questions`` page."""
router.include_router(api)
router.include_router(pages)
