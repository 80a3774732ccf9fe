"""What is about the whole process rather than one package: the demo shop page that shows the
widget, and the liveness check."""

from __future__ import annotations

from collections.abc import Sized
from pathlib import Path
from typing import Protocol

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from core.web import page_templates

LANGUAGES = ("pt-BR", "pt-PT", "en")
templates = page_templates(Path(__file__).parent / "templates")


class ReadinessCheck(Protocol):
    """Something that says whether a service it depends on answers (the Rasa client)."""

    async def is_ready(self) -> bool:
        """Whether the service answers now."""


def browser_language(accept_language: str, default: str) -> str:
    """The first language of an ``Accept-Language`` header that Balcão speaks (any other "pt" is
    read as pt-BR, any "en-*" as en), else ``default`` — the same choice ``widget.js`` makes from
    ``navigator.languages``."""
    weighted = []
    for n, part in enumerate(accept_language.split(",")):
        tag, _, q = part.strip().partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            weight = 0.0
        weighted.append((-weight, n, tag.strip().lower()))
    for _, _, tag in sorted(weighted):
        if tag == "pt-pt":
            return "pt-PT"
        if tag == "pt" or tag.startswith("pt-"):
            return "pt-BR"
        if tag == "en" or tag.startswith("en-"):
            return "en"
    return default


def process_router(index: Sized, rasa: ReadinessCheck, *, default_language: str = "pt-BR") -> APIRouter:
    """``GET /`` (the demo page) and ``GET /healthz`` for this process's ``index`` and ``rasa``."""
    router = APIRouter()

    @router.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def demo(request: Request, lang: str = "") -> Response:
        """The demo shop page, in the language asked for (``?lang=``), else the browser's; the
        widget follows the page's ``<html lang>``, and ``?lang=`` names the widget's too."""
        chosen = lang if lang in LANGUAGES else ""
        page_lang = chosen or browser_language(request.headers.get("accept-language", ""), default_language)
        return templates.TemplateResponse(request, "demo.html", {"lang": page_lang, "widget_lang": chosen})

    @router.get("/healthz", tags=["ops"])
    async def healthz() -> dict:
        """Liveness, and whether Rasa answers."""
        return {"ok": True, "articles": len(index), "rasa": await rasa.is_ready()}

    return router
