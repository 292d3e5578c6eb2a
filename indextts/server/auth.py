"""HTTP Basic auth for the whole app (UI and API), with the probes left open.

One mechanism for every client: browsers show their native login prompt,
curl takes ``-u user:password``, gradio_client takes the header, and OpenAI
clients (which send ``Authorization: Bearer <api_key>``) pass the password as
their api_key.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json

OPEN_PATHS = frozenset({"/healthz", "/health", "/readyz"})


class BasicAuthMiddleware:
    def __init__(self, app, user: str, password: str, realm: str = "IndexTTS") -> None:
        self.app = app
        self._user = user.encode()
        self._password = password.encode()
        self._realm = realm

    def _authorized(self, header: str) -> bool:
        scheme, _, value = header.partition(" ")
        scheme = scheme.lower()
        if scheme == "basic":
            try:
                user, sep, password = base64.b64decode(value.strip(), validate=True).partition(b":")
            except (binascii.Error, ValueError):
                return False
            # compare both parts every time (no early exit that would time the user name)
            ok_user = hmac.compare_digest(user, self._user)
            ok_password = hmac.compare_digest(password, self._password)
            return bool(sep) and ok_user and ok_password
        if scheme == "bearer":
            return hmac.compare_digest(value.strip().encode(), self._password)
        return False

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket") or scope.get("path") in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        header = ""
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                header = value.decode("latin-1")
                break
        if self._authorized(header):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        path = scope.get("path", "")
        if path.startswith("/v1/") or path == "/metrics":
            body = json.dumps({"error": {"message": "authentication required: use HTTP Basic auth "
                                                    "(server.auth_user / server.auth_password) or "
                                                    "'Authorization: Bearer <password>'",
                                         "type": "authentication_error", "param": None,
                                         "code": "invalid_api_key"}}).encode()
            content_type = b"application/json"
        else:
            body = b"Authentication required.\n"
            content_type = b"text/plain; charset=utf-8"
        await send({"type": "http.response.start", "status": 401, "headers": [
            (b"www-authenticate", f'Basic realm="{self._realm}", charset="UTF-8"'.encode()),
            (b"content-type", content_type),
            (b"content-length", str(len(body)).encode()),
        ]})
        await send({"type": "http.response.body", "body": body})
