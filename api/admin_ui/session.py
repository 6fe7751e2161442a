"""The admin UI's login session and CSRF tokens.

Logging in with the admin key gives a signed, expiring session cookie; the cookie never holds
the key. The signing key is derived from the admin key (HMAC with a fixed label), so only this
server can mint sessions, and changing MEMSVC_ADMIN_KEY ends every session at once.

    session = "<expires (unix s)>.<nonce>.<signature>"   signature = HMAC(k, "<expires>.<nonce>")
    csrf    = HMAC(k, "csrf:" + nonce)

Each mutating form carries the CSRF token of its session in a hidden field; a POST whose token
does not match its own session's is refused (a cross-site page can make the browser send the
cookie, never read the token). The cookie is also SameSite=Strict, HttpOnly and scoped to
/admin. Logout ends the nonce on this process (kept until its expiry), besides clearing the
cookie.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import secrets
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

COOKIE = "memsvc_admin"
COOKIE_PATH = "/admin"
LIFETIME_S = 8 * 3600  # one working day
CSRF_FIELD = "csrf_token"
_LABEL = b"memsvc admin-ui session v1"


@dataclasses.dataclass(frozen=True)
class Session:
    nonce: str
    expires: int
    csrf: str


class LoginRequired(Exception):
    """No valid admin session: the page sends the browser to the login form."""


class CsrfRefused(Exception):
    """A POST without its session's CSRF token."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def signing_key(admin_key: str) -> bytes:
    return hmac.new(admin_key.encode(), _LABEL, hashlib.sha256).digest()


def _sign(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())


def csrf_for(key: bytes, nonce: str) -> str:
    return _sign(key, f"csrf:{nonce}")


def issue(key: bytes, now: float, lifetime_s: int = LIFETIME_S) -> str:
    """A new session token, valid for `lifetime_s` from `now`."""
    payload = f"{int(now) + lifetime_s}.{secrets.token_urlsafe(16)}"
    return f"{payload}.{_sign(key, payload)}"


def verify(key: bytes, token: str | None, now: float) -> Session | None:
    """The session this token holds, if it is well formed, signed by `key` and unexpired."""
    if not token or len(token) > 200:
        return None
    parts = token.split(".")
    if len(parts) != 3 or not parts[0].isdigit():
        return None
    expires_text, nonce, signature = parts
    if not hmac.compare_digest(signature, _sign(key, f"{expires_text}.{nonce}")):
        return None
    expires = int(expires_text)
    if expires <= now:
        return None
    return Session(nonce=nonce, expires=expires, csrf=csrf_for(key, nonce))


def csrf_matches(session: Session, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(session.csrf.encode(), (sent or "").encode())


# --- on requests ----------------------------------------------------------------------------


def _key(request: Request) -> bytes | None:
    admin_key: str | None = request.app.state.runtime.settings.admin_key_value
    return signing_key(admin_key) if admin_key else None


def _ended(request: Request) -> dict[str, int]:
    state = request.app.state
    if not hasattr(state, "admin_ui_ended"):
        state.admin_ui_ended = {}
    ended: dict[str, int] = state.admin_ui_ended
    return ended


def admin_key_matches(request: Request, given: str) -> bool:
    admin_key: str | None = request.app.state.runtime.settings.admin_key_value
    return bool(admin_key) and hmac.compare_digest(given.encode(), (admin_key or "").encode())


def current(request: Request) -> Session | None:
    """The request's valid session, or None."""
    key = _key(request)
    if key is None:
        return None
    found = verify(key, request.cookies.get(COOKIE), time.time())
    if found is None or found.nonce in _ended(request):
        return None
    return found


def require(request: Request) -> Session:
    """The FastAPI dependency of every page but the login form."""
    found = current(request)
    if found is None:
        raise LoginRequired()
    return found


def start(request: Request, response: Response) -> None:
    """Log in: set a fresh session cookie on `response`."""
    key = _key(request)
    assert key is not None  # the caller checked the admin key, so there is one
    response.set_cookie(
        COOKIE,
        issue(key, time.time()),
        max_age=LIFETIME_S,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def end(request: Request, response: Response, session: Session) -> None:
    """Log out: forget the nonce on this process and clear the cookie."""
    ended = _ended(request)
    now = int(time.time())
    for nonce, expires in list(ended.items()):  # drop what has expired anyway
        if expires <= now:
            del ended[nonce]
    ended[session.nonce] = session.expires
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")


def check_csrf(session: Session, form: dict[str, Any]) -> None:
    if not csrf_matches(session, form.get(CSRF_FIELD)):
        raise CsrfRefused()
