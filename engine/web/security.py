"""What every response carries, what every request may send: security headers, the Content-Security-Policy,
the body limit (enforced while the body is read) and the cross-site check on form posts.

The app keeps no session and sets no cookie, so there is nothing for a cross-site request to ride on;
form posts are still refused when the browser says they come from another site (``Sec-Fetch-Site``),
or, from a browser that does not send that header, when their ``Origin`` is not the host they were
sent to. That check needs no state, so any replica can make it.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY = 1 << 20  # SPEC.md: a body over 1 MiB is refused (413)

# No inline script, no inline style (unless hashed), nothing from anywhere else: the pages work offline.
_CSP = {
    "default-src": "'none'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "form-action": "'self'",
    "base-uri": "'none'",
    "frame-ancestors": "'none'",
}
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

HEADERS: tuple[tuple[str, str], ...] = (
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    ("permissions-policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"),
)


def csp(*, style_hashes: Iterable[str] = ()) -> str:
    """The page policy; ``style_hashes``: 'sha256-...' sources for inline ``<style>`` blocks of a page."""
    policy = dict(_CSP)
    extra = " ".join(f"'{h}'" for h in style_hashes)
    if extra:
        policy["style-src"] += " " + extra
    return "; ".join(f"{k} {v}" for k, v in policy.items())


_STYLE = re.compile(r"<style\b[^>]*>(.*?)</style>", re.S | re.I)


def inline_style_hashes(document: str) -> list[str]:
    """The CSP hash of each inline ``<style>`` block of ``document`` (a self-contained printable page)."""
    out = []
    for body in _STYLE.findall(document):
        digest = base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode("ascii")
        out.append(f"sha256-{digest}")
    return out


class SecurityHeaders:
    """ASGI middleware: the usual headers on every response (errors included), a CSP where none is set,
    and ``Cache-Control: no-store`` on everything but the static files (answers are never cached)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        api = path.startswith("/api/") or path == "/healthz"
        static = path.startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in HEADERS:
                    if name.encode() not in present:
                        headers.append((name.encode(), value.encode()))
                if b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", (API_CSP if api else csp()).encode()))
                if b"cache-control" not in present:
                    headers.append((b"cache-control", b"public, max-age=3600" if static else b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


class BodyTooLarge(Exception):
    """A request body over the limit (413)."""


class BadLength(Exception):
    """A Content-Length that is not a number (400)."""


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The request body, refused as soon as it is known to exceed ``limit`` bytes: a declared length at
    once, before any byte is read; a chunked body at the chunk that crosses the limit."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise BadLength(declared)
        if int(declared) > limit:
            raise BodyTooLarge(int(declared))
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(size)
        chunks.append(chunk)
    return b"".join(chunks)


def cross_site(request: Request) -> str | None:
    """Why a form post must be refused as cross-site, or None when it is same-site (or not from a browser).

    ``Sec-Fetch-Site`` is set by the browser and cannot be forged by a page; it decides when present.
    Otherwise ``Origin``, when present, must name the host the request was sent to (``Host``, which a
    reverse proxy must pass on: ``proxy_set_header Host $host``). A client that sends neither is no
    browser acting for someone else: there is no cookie or session it could ride on."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return None if site.lower() in ("same-origin", "none") else f"the browser says it came from a {site} page"
    origin = request.headers.get("origin")
    if origin is None:
        return None
    if origin.strip().lower() == "null":
        return "it came from a page with no origin"
    host = request.headers.get("host", "")
    if urlsplit(origin.strip()).netloc.lower() != host.strip().lower():
        return "it came from another site"
    return None
