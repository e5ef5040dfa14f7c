"""Who is calling: a bearer JWT, verified before any GraphQL is parsed or run.

Tokens are HS256 only, signed with ``LIBRARYCACHE_JWT_SECRET``; ``exp`` and ``sub`` are
required, ``aud`` and ``iss`` are checked when configured. What a verified caller may do
is decided next to the resolvers (``resolvers.access``).
"""

from __future__ import annotations

import logging
import math
import re

import jwt
from jwt.exceptions import InvalidSubjectError
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from resolvers.access import Caller, Unauthenticated
from server.http_errors import error_response
from server.settings import Settings

log = logging.getLogger("librarycache.auth")

ALGORITHM = "HS256"
LEEWAY_SECONDS = 30
"""Clock skew tolerated between the token's issuer and this server, on exp, nbf and iat."""

_REASONS: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.ExpiredSignatureError, "the token has expired; get a new one"),
    (jwt.ImmatureSignatureError, "the token is not valid yet (nbf or iat is in the future)"),
    (jwt.InvalidAudienceError, "the token's audience (aud) is not accepted by this server"),
    (jwt.InvalidIssuerError, "the token's issuer (iss) is not accepted by this server"),
    (InvalidSubjectError, "the token's 'sub' claim must be a string"),
    (jwt.InvalidAlgorithmError, f"the token must be signed with {ALGORITHM}"),
    (jwt.InvalidSignatureError, "the token's signature does not verify"),
    (jwt.DecodeError, "the bearer token is not a well-formed JWT"),
)
_NUMERIC_CLAIMS = ("exp", "nbf", "iat")
"""RFC 7519's NumericDate claims: JSON numbers. PyJWT would also take ``"1767225600"``."""
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
"""RFC 6749 section 3.3's ``scope-token``: printable ASCII except space, ``"`` and ``\\``."""


class InvalidToken(Unauthenticated):
    """A token was sent but cannot be trusted (RFC 6750's ``invalid_token``)."""


class JwtAuthenticator:
    """Maps a request to its ``Caller``, or raises ``Unauthenticated``."""

    def __init__(
        self, secret: str, *, audience: str | None = None, issuer: str | None = None
    ) -> None:
        self._secret = secret
        self._audience = audience
        self._issuer = issuer

    @classmethod
    def from_settings(cls, settings: Settings) -> JwtAuthenticator | None:
        """``None`` when no secret is set: authentication is off."""
        if settings.jwt_secret is None:
            return None
        return cls(
            settings.jwt_secret.get_secret_value(),
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
        )

    def __call__(self, request: Request) -> Caller:
        try:
            return self.verify(bearer_token(request))
        except Unauthenticated as error:
            log.info(
                "refused a request: %s",
                error,
                extra={"requestId": getattr(request.state, "request_id", "-")},
            )
            raise

    def verify(self, token: str) -> Caller:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "sub"]},
            )
        except jwt.MissingRequiredClaimError as error:
            raise InvalidToken(f"the token has no {error.claim!r} claim") from None
        except jwt.PyJWTError as error:
            raise InvalidToken(_reason(error)) from None
        for name in _NUMERIC_CLAIMS:
            if name in claims and not _is_numeric_date(claims[name]):
                raise InvalidToken(f"the token's {name!r} claim must be a number (NumericDate)")
        subject = claims["sub"]
        scope = claims.get("scope", "")
        if not isinstance(subject, str) or not subject:
            raise InvalidToken("the token's 'sub' claim is empty")
        return Caller(subject=subject, scopes=_scopes(scope))


def bearer_token(request: HTTPConnection) -> str:
    header = request.headers.get("authorization")
    if header is None:
        raise Unauthenticated("this endpoint needs an 'Authorization: Bearer <JWT>' header")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header must read 'Bearer <JWT>'")
    return token.strip()


def refusal(error: Unauthenticated) -> Response:
    """401 with a GraphQL-shaped body and the challenge RFC 6750 asks for."""
    return error_response(
        401, str(error), error.code, headers={"WWW-Authenticate": challenge(error)}
    )


def challenge(error: Unauthenticated) -> str:
    """The ``WWW-Authenticate`` value of a 401 for ``error`` (RFC 6750)."""
    value = 'Bearer realm="librarycache"'
    if isinstance(error, InvalidToken):
        value += ', error="invalid_token"'
    return value


def _is_numeric_date(value: object) -> bool:
    # bool is an int to Python, and JSON parsed by PyJWT may hold NaN or Infinity.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _scopes(scope: object) -> frozenset[str]:
    """Split on the single space of RFC 6749 only.

    Any other separator (a tab, a no-break space, a control character) is refused rather
    than split on: ``"read\\u00a0library:sync"`` must not grant ``library:sync``.
    """
    if not isinstance(scope, str):
        raise InvalidToken("the token's 'scope' claim must be a space-separated string")
    tokens = [token for token in scope.split(" ") if token]
    for token in tokens:
        if not _SCOPE_TOKEN.fullmatch(token):
            raise InvalidToken(
                f"the token's 'scope' claim holds {token!r}: scopes are printable ASCII, "
                "separated by single spaces (RFC 6749 section 3.3)"
            )
    return frozenset(tokens)


def _reason(error: jwt.PyJWTError) -> str:
    return next(
        (text for kind, text in _REASONS if isinstance(error, kind)), "the token is invalid"
    )
