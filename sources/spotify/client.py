"""A small typed client of Spotify's Web API: pages, token refresh, rate limits, retries.

Why not spotipy or tekore: both still read playlists through ``/playlists/{id}/tracks``,
the endpoint development-mode apps lost in March 2026, and neither lets the accounts
URL be pointed at a test server without patching class constants. The mirror needs
five GET endpoints and one POST, so a client of its own on httpx is the smaller risk.

Every wait (``Retry-After`` of a 429, backoff after a 5xx or a network error) counts
against one budget, ``max_wait``; past it the run stops with a clear message rather
than hang a cron job. Errors name the request by method and path, never a token.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ValidationError

from sources.spotify.errors import AuthorizationError, Forbidden, NotFound, SourceError
from sources.spotify.models import TokenResponse
from sources.spotify.report import Progress, Report
from sources.spotify.tokens import TokenFile, Tokens

DEFAULT_API_URL = "https://api.spotify.com/v1"
DEFAULT_ACCOUNTS_URL = "https://accounts.spotify.com"
_MAX_BACKOFF_SECONDS = 30.0
_DEFAULT_RETRY_AFTER = 1.0  # a 429 without the header: Spotify always sends it, but be safe

PageT = TypeVar("PageT", bound=BaseModel)


class SpotifyClient:
    def __init__(
        self,
        http: httpx.Client,
        token_file: TokenFile,
        report: Report,
        progress: Progress,
        *,
        api_url: str = DEFAULT_API_URL,
        accounts_url: str = DEFAULT_ACCOUNTS_URL,
        max_wait: float = 300.0,
        first_backoff: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._http = http
        self._token_file = token_file
        self._tokens: Tokens = token_file.load()
        self._report = report
        self._progress = progress
        self._api_url = api_url.rstrip("/")
        self._accounts_url = accounts_url.rstrip("/")
        self._origin = _origin(self._api_url)
        self._max_wait = max_wait
        self._first_backoff = first_backoff
        self._sleep = sleep
        self._clock = clock
        self.stage = "spotify"

    def pages(
        self, path: str, model: type[PageT], params: dict[str, str | int] | None = None
    ) -> Iterator[PageT]:
        """Every page of a paged list, following ``next`` until it is null."""
        url: str | None = self._url(path, params)
        while url is not None:
            body = self.get(url)
            try:
                page = model.model_validate(body)
            except ValidationError as error:
                raise SourceError(
                    f"GET {_path(url)} answered an unexpected shape: {_first_problem(error)}"
                ) from None
            self._report.pages += 1
            yield page
            url = getattr(page, "next", None)
            if url is not None and _origin(url) != self._origin:
                # The bearer token goes only to the API it was issued for.
                raise SourceError(f"GET {_path(url)}: a next link points outside the API URL")

    def get(self, url: str) -> Any:
        """GET a JSON body; refreshes the access token once on expiry or on 401."""
        if self._tokens.expired(self._clock()):
            self._refresh()
        refreshed = False
        while True:
            token = self._tokens.access_token.get_secret_value()
            response = self._send("GET", url, headers={"Authorization": f"Bearer {token}"})
            status = response.status_code
            if status == 401 and not refreshed:
                self._refresh()
                refreshed = True
                continue
            if status == 401:
                raise AuthorizationError(
                    f"GET {_path(url)}: Spotify refused a freshly refreshed access token "
                    f"({_api_message(response)}); authorize again to make a new token file"
                )
            if status == 403:
                raise Forbidden(f"GET {_path(url)}: 403 {_api_message(response)}")
            if status == 404:
                raise NotFound(f"GET {_path(url)}: 404 {_api_message(response)}")
            if status >= 400:
                raise SourceError(f"GET {_path(url)}: HTTP {status} {_api_message(response)}")
            try:
                return response.json()
            except ValueError:
                raise SourceError(f"GET {_path(url)}: the answer is not JSON") from None

    def _refresh(self) -> None:
        form, headers = self._tokens.refresh_request()
        url = f"{self._accounts_url}/api/token"
        response = self._send("POST", url, data=form, headers=headers)
        if response.status_code != 200:
            raise AuthorizationError(
                f"POST {_path(url)}: the accounts service refused the refresh token "
                f"(HTTP {response.status_code} {_oauth_error(response)}); "
                "authorize again to make a new token file"
            )
        try:
            answer = TokenResponse.model_validate_json(response.content)
        except ValidationError:
            raise AuthorizationError(
                f"POST {_path(url)}: the accounts service answered an unexpected shape"
            ) from None
        self._tokens = self._tokens.refreshed(
            answer.access_token, answer.expires_in, answer.refresh_token, self._clock()
        )
        # Saved before it is used: a rotated refresh token is the only one that works now.
        self._token_file.save(self._tokens)
        self._report.token_refreshes += 1

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request, retried on 429, 5xx and network errors within the wait budget."""
        failures = 0
        while True:
            self._report.requests += 1
            try:
                response = self._http.request(method, url, **kwargs)
            except httpx.TransportError as error:
                failures += 1
                self._wait(
                    self._backoff(failures), f"{method} {_path(url)}: {type(error).__name__}"
                )
                continue
            if response.status_code == 429:
                delay = _retry_after(response)
                self._wait(
                    delay, f"{method} {_path(url)}: 429 rate limited (Retry-After {delay:g} s)"
                )
                continue
            if response.status_code >= 500:
                failures += 1
                self._wait(
                    self._backoff(failures), f"{method} {_path(url)}: HTTP {response.status_code}"
                )
                continue
            return response

    def _backoff(self, failures: int) -> float:
        delay = min(self._first_backoff * 2.0 ** (failures - 1), _MAX_BACKOFF_SECONDS)
        return delay * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not a secret

    def _wait(self, seconds: float, why: str) -> None:
        if self._report.waited_seconds + seconds > self._max_wait:
            raise SourceError(
                f"{why}; giving up: waiting {seconds:.1f} s more would pass --max-wait "
                f"{self._max_wait:g} s (already waited {self._report.waited_seconds:.1f} s)"
            )
        self._report.retries += 1
        self._report.waited_seconds += seconds
        self._progress.update(f"{self.stage} (waiting {seconds:.0f} s)", force=True)
        self._sleep(seconds)

    def _url(self, path: str, params: dict[str, str | int] | None) -> str:
        url = httpx.URL(f"{self._api_url}{path}")
        return str(url.copy_merge_params(params)) if params else str(url)


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def _path(url: str) -> str:
    return urlsplit(url).path


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(float(response.headers.get("Retry-After", "")), 0.0)
    except ValueError:
        return _DEFAULT_RETRY_AFTER


def _api_message(response: httpx.Response) -> str:
    """Spotify's ``{"error": {"status", "message"}}``, which never echoes a token."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return ""
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])[:200]
    return ""


def _oauth_error(response: httpx.Response) -> str:
    """The accounts service's ``{"error": "invalid_grant", "error_description": ...}``."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    parts = [str(body.get(k))[:200] for k in ("error", "error_description") if body.get(k)]
    return ": ".join(parts)


def _first_problem(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(map(str, first["loc"]))
    return f"{where}: {first['msg']} ({error.error_count()} problem(s))"
