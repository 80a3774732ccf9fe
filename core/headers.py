"""Security headers on every HTTP response: one small ASGI middleware and the policy of each class
of route.

Which route gets which policy (first matching rule wins; the hub passes the rules):

- **staff** (the default: console, dashboard, editor, login, their static files, the JSON API):
  ``STAFF_POLICY``, scripts and styles from this origin only (no inline script, no inline event
  handler), and ``frame-ancestors 'none'`` so no other site can frame a staff page (clickjacking);
- **embeddable** (the demo shop page, ``/widget.js``, the widget's session call, media links): the
  widget runs on the shop's own site, so these must stay loadable and frameable from anywhere. The
  demo page gets ``DEMO_POLICY`` (it stands for a shop's page: scripts from here only, inline
  styles allowed because the widget writes its own ``<style>`` into its shadow root), the others
  no CSP;
- **api docs** (``/docs``, ``/redoc``): FastAPI's pages load Swagger/ReDoc from a CDN with an inline
  bootstrap script, so they only get ``frame-ancestors 'none'``.

Every response also gets ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: same-origin``
(staff URLs name conversations and customers: they never leave in a Referer), and
``Strict-Transport-Security`` when the hub's public URL is https. A header the route set itself is
kept (the middleware only adds what is missing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STAFF_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: https:",  # an article may show an image from elsewhere in the editor's preview
        "media-src 'self'",  # customers' voice notes, played in the console from the hub's signed links
        "connect-src 'self'",  # fetch and the console's WebSocket (same origin)
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
"""Staff pages: nothing inline runs, nothing from another origin loads, no other site frames them."""

DEMO_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",  # the page's own <style> and the widget's shadow-root <style>
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
    ]
)
"""The demo shop page: no inline script either, but it may be framed (it stands for a shop's site)."""

DOCS_POLICY = "frame-ancestors 'none'"
"""FastAPI's API docs: their CDN scripts and inline bootstrap stay allowed; only framing is refused."""

HSTS = "max-age=31536000"  # a year; no includeSubDomains: the shop's other hosts are not ours to pin


@dataclass(frozen=True)
class RoutePolicy:
    """Which Content-Security-Policy the paths ``path`` names get: exactly ``path``, or every path
    starting with it when it ends with ``*``. ``csp`` None: no CSP (the route must stay
    embeddable); ``frameable``: other sites may frame it (no ``X-Frame-Options``)."""

    path: str
    csp: str | None
    frameable: bool = False

    def matches(self, request_path: str) -> bool:
        """Whether this rule is about ``request_path``."""
        if self.path.endswith("*"):
            return request_path.startswith(self.path[:-1])
        return request_path == self.path


class SecurityHeaders:
    """ASGI middleware adding the security headers of each response's route class (see the module)."""

    def __init__(self, app: ASGIApp, *, rules: Sequence[RoutePolicy], hsts: bool) -> None:
        self.app = app
        self.rules = tuple(rules)
        self.hsts = hsts

    def headers_for(self, path: str) -> list[tuple[str, str]]:
        """The headers a response to ``path`` gets (before what the route set itself)."""
        rule = next((r for r in self.rules if r.matches(path)), None)
        csp = rule.csp if rule is not None else STAFF_POLICY
        frameable = rule.frameable if rule is not None else False
        headers = [("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "same-origin")]
        if csp:
            headers.append(("Content-Security-Policy", csp))
        if not frameable:
            headers.append(("X-Frame-Options", "DENY"))  # frame-ancestors for browsers that predate it
        if self.hsts:
            headers.append(("Strict-Transport-Security", HSTS))
        return headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # WebSocket handshakes and the lifespan carry no page
            await self.app(scope, receive, send)
            return
        extra = self.headers_for(scope["path"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra:
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
