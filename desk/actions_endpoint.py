"""Rasa's action server protocol, served by the hub: rasa-sdk's executor runs bot.actions here."""

from __future__ import annotations

import logging

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from rasa_sdk.executor import ActionExecutor
from rasa_sdk.interfaces import ActionExecutionRejection, ActionNotFoundException

from core.security import same_secret

logger = logging.getLogger(__name__)


def actions_router(executor: ActionExecutor, token: str) -> APIRouter:
    """``POST /actions/webhook``, accepted only with the Rasa token (query parameter ``token``)."""
    router = APIRouter(include_in_schema=False)

    @router.post("/actions/webhook")
    async def webhook(request: Request) -> JSONResponse:
        supplied = request.query_params.get("token", "")
        if not same_secret(supplied, token):
            raise HTTPException(403, "wrong or missing Rasa token")
        action_call = await request.json()
        try:
            result = await executor.run(action_call)
        except ActionExecutionRejection as exc:
            return JSONResponse({"error": exc.message, "action_name": exc.action_name}, status_code=400)
        except ActionNotFoundException as exc:
            return JSONResponse({"error": exc.message, "action_name": exc.action_name}, status_code=404)
        return JSONResponse(result.model_dump() if result else None)

    return router
