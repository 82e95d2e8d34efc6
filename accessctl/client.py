"""A small JSON client for the Access Portal REST API over urllib.

It turns every way a call can fail into a `CliError` with one plain sentence: the server's
own message for a refusal, "cannot connect" for a network failure, and "not an Access
Portal API" when the URL answers with something else (an HTML page, a redirect to a login
form). Redirects are not followed: a POST must not silently turn into a GET elsewhere.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from accessctl import __version__
from accessctl.config import API_PREFIX
from accessctl.errors import (
    AuthError,
    CliError,
    NetworkError,
    OutcomeUnknown,
    ServerError,
    SessionExpired,
)

DEFAULT_TIMEOUT = 30.0
MAX_PAGES = 200
# A POST whose answer was lost (the connection dropped, no answer in time, a 502/503/504 from
# a proxy) is sent again this many more times with the same Idempotency-Key: the server
# replays its first answer instead of doing the work twice (README "Retries").
POST_RETRIES = 2
RETRIED_STATUSES = frozenset({502, 503, 504})
# A retry that finds the first attempt still running (409 idempotency_key_in_use) waits as
# the server's Retry-After says, for this long in all: more than the server may take with
# one request (its worker timeout, 30 s, behind the proxy's 35 s).
IN_USE_PATIENCE = 45.0
IN_USE_WAIT = (1.0, 10.0)  # the least and most one Retry-After is honoured for

Params = Mapping[str, object] | Iterable[tuple[str, object]] | None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: PLR0913
        return None  # the 3xx surfaces as an HTTPError, explained in _http_error


def error_message(data: object) -> str:
    """The API's error shapes as one line: `{"detail": m, "code": c}`, with bad input's
    `"errors": {"field": [m, ...]}` (every field); older servers' `{"field": [m, ...]}`."""
    if isinstance(data, str):
        return data
    if isinstance(data, list):
        return " ".join(error_message(item) for item in data)
    if isinstance(data, dict):
        errors = data.get("errors")
        if isinstance(errors, dict) and len(errors) > 1:  # bad input: every field, not one
            return error_message(errors)
        if "detail" in data and isinstance(data["detail"], str | list):
            return error_message(data["detail"])
        parts = []
        for key, value in data.items():
            if isinstance(value, dict) and value and all(str(i).isdigit() for i in value):
                # A list's items by index: "roles[0]: ...", not "roles: 0: ...".
                parts.extend(f"{key}[{i}]: {error_message(v)}" for i, v in value.items())
                continue
            text = error_message(value)
            parts.append(text if key in ("non_field_errors", "__all__") else f"{key}: {text}")
        return "; ".join(parts)
    return str(data)


def _reason(exc: BaseException) -> str:
    """What went wrong under a URLError, said the way a person would."""
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused (is the server running, and is the URL right?)"
    if isinstance(reason, socket.gaierror):
        return "unknown host name"
    if isinstance(reason, TimeoutError | socket.timeout):
        return "no answer in time"
    if isinstance(reason, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted ({reason.verify_message})"
    if isinstance(reason, ssl.SSLError):
        return f"TLS error ({reason.reason or reason})"
    if isinstance(reason, ConnectionResetError | http.client.RemoteDisconnected):
        return "the connection was closed by the server"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror.lower()
    return str(reason) or reason.__class__.__name__


def _answer_lost(exc: BaseException) -> bool:
    """Whether the request may have reached the server and its answer was lost (the
    connection closed or reset, or no answer in time): only then is a POST sent again."""
    reason = getattr(exc, "reason", exc)
    lost = (
        ConnectionResetError,
        http.client.RemoteDisconnected,
        http.client.IncompleteRead,
        TimeoutError,
        socket.timeout,
        BrokenPipeError,
    )
    return isinstance(reason, lost)


class ApiClient:
    """Calls `<base_url>/api/v1/<path>` with `Authorization: Token <token>`."""

    def __init__(
        self, base_url: str, token: str | None = None, *, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._opener = urllib.request.build_opener(_NoRedirect)
        self.sleep = time.sleep  # between retries of a POST; tests replace it

    def url(self, path: str, params: Params = None) -> str:
        url = f"{self.base_url}{API_PREFIX}/{path.lstrip('/')}"
        if params:
            items = params.items() if isinstance(params, Mapping) else params
            query = [(k, v) for k, v in items if v is not None and v != ""]
            if query:
                url += "?" + urlencode(query)
        return url

    def get(self, path: str, params: Params = None) -> Any:
        return self.call("GET", self.url(path, params))

    def delete(self, path: str, params: Params = None) -> Any:
        """DELETE, sent once more when its answer was lost (the connection dropped, no answer
        in time, a 502/503/504 from a proxy): deleting twice ends in the same state. A retry
        that the server refuses carries `after_lost_answer`, since the first attempt may
        have done the deletion (a token that signed itself out is then a 401)."""
        url = self.url(path, params)
        try:
            return self.call("DELETE", url)
        except NetworkError as exc:
            if not exc.answer_lost:
                raise
        except ServerError as exc:
            if exc.status not in RETRIED_STATUSES:
                raise
        self.sleep(1.0)
        try:
            return self.call("DELETE", url)
        except CliError as exc:
            exc.after_lost_answer = True
            raise

    def post(self, path: str, body: Mapping[str, object] | None = None) -> Any:
        """POST with a fresh `Idempotency-Key`, sent again (same key) when the answer was
        lost (POST_RETRIES times), and while the server says the key is in use (for
        IN_USE_PATIENCE seconds); the API's endpoints that ignore the key (credentials, CLI
        sign-in) are never retried blind. A refused connection is not retried: nothing
        reached the server. When the retries end without an answer, a write to
        `requests/...` is OutcomeUnknown: it may have been done."""
        key = str(uuid.uuid4())
        if not self._honours_key(path):
            return self.call("POST", self.url(path), body or {}, idempotency_key=key)
        lost, waited = 0, 0.0
        while True:
            try:
                return self.call("POST", self.url(path), body or {}, idempotency_key=key)
            except NetworkError as exc:
                failure, retry = exc, exc.answer_lost
            except ServerError as exc:
                failure, retry = exc, exc.status in RETRIED_STATUSES
                if exc.code == "idempotency_key_in_use":
                    if waited >= IN_USE_PATIENCE:
                        raise self._unknown(path, exc) from None
                    pause = _seconds(exc.retry_after)
                    self.sleep(pause)
                    waited += pause
                    continue
            if retry and lost < POST_RETRIES:
                lost += 1
                self.sleep(1.0)
                continue
            if lost and (retry or isinstance(failure, NetworkError)):
                raise self._unknown(path, failure) from None
            raise failure

    @staticmethod
    def _unknown(path: str, failure: CliError) -> CliError:
        """After retries that did not tell whether the write was done."""
        return OutcomeUnknown(failure.message) if path.lstrip("/") != "auth/token/" else failure

    @staticmethod
    def _honours_key(path: str) -> bool:
        path = path.lstrip("/")
        return path.startswith("requests/") or path == "auth/token/"

    def get_list(self, path: str, params: Params = None) -> list:
        """Every item of a list endpoint, following DRF pagination (`results`/`next`) if used."""
        data = self.get(path, params)
        if isinstance(data, list):
            return data
        if not (isinstance(data, dict) and isinstance(data.get("results"), list)):
            raise NetworkError(
                f"{self.url(path)} did not answer with a list; is this an Access Portal API?"
            )
        items = list(data["results"])
        pages = 1
        while data.get("next") and pages < MAX_PAGES:
            # Keep our own scheme and host: behind a proxy `next` may say http:// for https.
            nxt = urlsplit(data["next"])
            ours = urlsplit(self.base_url)
            data = self.call("GET", urlunsplit((ours.scheme, ours.netloc, nxt.path, nxt.query, "")))
            items.extend(data.get("results", []) if isinstance(data, dict) else [])
            pages += 1
        return items

    def download(self, path: str, accept: str) -> bytes:
        """GET a file the API renders in another media type (a report as CSV or PDF)."""
        return self.call("GET", self.url(path), accept=accept)

    def call(
        self,
        method: str,
        url: str,
        body: object = None,
        *,
        idempotency_key: str | None = None,
        accept: str = "application/json",
    ) -> Any:
        headers = {
            "Accept": accept,
            "User-Agent": f"accessctl/{__version__}",
        }
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        if self.token:
            headers["Authorization"] = f"Token {self.token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                if accept != "application/json" and response.status == 200:
                    return response.read()
                return self._decode(url, response.status, response.headers, response.read())
        except urllib.error.HTTPError as exc:
            with exc:
                raw = exc.read()
            return self._http_error(url, exc.code, exc.headers, raw)
        except urllib.error.URLError as exc:
            error = NetworkError(f"cannot connect to {self.base_url}: {_reason(exc)}")
            error.answer_lost = _answer_lost(exc)
            raise error from None
        except (OSError, http.client.HTTPException) as exc:
            error = NetworkError(f"cannot talk to {self.base_url}: {_reason(exc)}")
            error.answer_lost = _answer_lost(exc)
            raise error from None

    def _decode(self, url: str, status: int, headers, raw: bytes) -> Any:
        if status == 204 or not raw.strip():
            return None
        data = self._json(headers, raw)
        if data is _NOT_JSON:
            raise NetworkError(self._not_api(url, status, headers))
        return data

    def _json(self, headers, raw: bytes) -> object:
        ctype = (headers.get("Content-Type") or "").lower()
        if "json" not in ctype:
            return _NOT_JSON
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return _NOT_JSON

    def _not_api(self, url: str, status: int, headers) -> str:
        ctype = (headers.get("Content-Type") or "no content type").split(";")[0].strip()
        what = "an HTML page" if ctype == "text/html" else ctype
        return (
            f"{self.base_url} is not an Access Portal API: {url} answered with {what} "
            f"(HTTP {status}); check the server URL"
        )

    def _http_error(self, url: str, status: int, headers, raw: bytes) -> Any:
        if 300 <= status < 400:
            location = headers.get("Location", "somewhere else")
            raise NetworkError(
                f"{url} redirects to {location}; log in with the server's real URL "
                "(accessctl login --url ...)"
            )
        data = self._json(headers, raw)
        if data is _NOT_JSON:
            if status >= 500:
                raise ServerError(f"the server failed (HTTP {status})", status=status)
            raise NetworkError(self._not_api(url, status, headers))
        code, body = "", data
        if isinstance(data, dict):
            code = str(data.get("error") or data.get("code") or "")
            if "error" in data:  # RFC 8628 answers carry both; say the sentence once
                data = {k: v for k, v in data.items() if k not in ("error", "code")}
        message = error_message(data) or f"HTTP {status}"
        if status == 401 and code in ("token_expired", "token_revoked"):
            raise SessionExpired()
        if status == 401:
            raise AuthError(
                f"the server refused the credentials: {message}",
                hint="run `accessctl login` again, or check ACCESSPORTAL_TOKEN",
            )
        raise ServerError(
            message, status=status, code=code, retry_after=headers.get("Retry-After"), data=body
        )


def _seconds(retry_after: str | None) -> float:
    """A Retry-After of delay-seconds, within IN_USE_WAIT (1 s when absent or a date)."""
    try:
        seconds = float(retry_after or "")
    except ValueError:
        seconds = IN_USE_WAIT[0]
    return min(max(seconds, IN_USE_WAIT[0]), IN_USE_WAIT[1])


_NOT_JSON = object()
