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


def process_router(index: Sized, rasa: ReadinessCheck) -> APIRouter:
    """``GET /`` (the demo page) and ``GET /healthz`` for this process's ``index`` and ``rasa``."""
    router = APIRouter()

    @router.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def demo(request: Request, lang: str = "pt-BR") -> Response:
        return templates.TemplateResponse(request, "demo.html", {"lang": lang if lang in LANGUAGES else "pt-BR"})

    @router.get("/healthz", tags=["ops"])
    async def healthz() -> dict:
        """Liveness, and whether Rasa answers."""
        return {"ok": True, "articles": len(index), "rasa": await rasa.is_ready()}

    return router
