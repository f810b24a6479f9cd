"""What keeps the pages safe to open: a strict Content-Security-Policy, CSRF tokens on every form, and the
publisher's session in an `HttpOnly`, `SameSite=Strict` cookie.

The CSRF token is bound to a random per-browser cookie (`HMAC(secret, nonce)`, the secret kept in the data directory,
owner-only, so every worker process on the machine accepts the others' tokens), so a page on another site can neither
read nor forge it. The session cookie holds only a random token: the session itself is a database row
(`registry.websessions`), so signing out or revoking the API key ends it on every worker at once.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import secrets
from pathlib import Path

from fastapi import Request
from fastapi.responses import Response

from registry.errors import Forbidden
from registry.settings import write_private_file

# No inline script or style anywhere; pictures may be data: URIs (the evidence package's) or blob: (a local preview).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
CSRF_COOKIE = "provreg_csrf"
SESSION_COOKIE = "provreg_session"
SESSION_SECONDS = 8 * 3600


def load_secret(data_dir: Path) -> bytes:
    """The cookie-signing secret, created once (a second process racing to create it reads the winner's)."""
    path = data_dir / "web-secret"
    with contextlib.suppress(FileExistsError):
        write_private_file(path, secrets.token_urlsafe(32).encode())
    return path.read_bytes().strip()


def _mac(secret: bytes, message: str) -> str:
    digest = hmac.new(secret, message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _set_cookie(request: Request, response: Response, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


class Guard:
    """Issues and checks CSRF tokens and publisher sessions with one secret."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    @staticmethod
    def csrf_nonce(request: Request) -> tuple[str, bool]:
        """This browser's CSRF nonce, and whether it is new (then `remember_nonce` must set its cookie)."""
        nonce = request.cookies.get(CSRF_COOKIE) or ""
        return (nonce, False) if len(nonce) >= 16 else (secrets.token_urlsafe(24), True)

    @staticmethod
    def remember_nonce(request: Request, response: Response, nonce: str) -> None:
        _set_cookie(request, response, CSRF_COOKIE, nonce, None)

    def csrf_token(self, nonce: str) -> str:
        """The token every form on a page carries, bound to the browser's nonce cookie."""
        return _mac(self.secret, "csrf:" + nonce)

    def check_csrf(self, request: Request, token: str) -> None:
        nonce = request.cookies.get(CSRF_COOKIE) or ""
        if len(nonce) < 16 or not hmac.compare_digest(token.encode(), self.csrf_token(nonce).encode()):
            raise Forbidden(
                "This form has expired or did not come from this site. Reload the page and send it again "
                "(your browser must accept cookies from this site)."
            )

    @staticmethod
    def start_session(request: Request, response: Response, token: str) -> None:
        _set_cookie(request, response, SESSION_COOKIE, token, SESSION_SECONDS)

    @staticmethod
    def end_session(response: Response) -> None:
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")

    @staticmethod
    def session_token(request: Request) -> str:
        """The session cookie's token ("" without one); only the database says whether its session still holds."""
        return request.cookies.get(SESSION_COOKIE) or ""
