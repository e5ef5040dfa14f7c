"""The token file: read, refreshed at the accounts service, written back atomically.

The file holds the user's OAuth tokens, so it is written with mode 0600 through a
temporary file in the same folder and ``os.replace``: a crash mid-write never leaves a
truncated file, and a rotated refresh token is never lost once Spotify issued it.
Tokens are ``SecretStr``: they print as ``**********`` in reprs and logs.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import tempfile
from pathlib import Path

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError

from sources.spotify.errors import TokenFileError


class Tokens(BaseModel):
    model_config = ConfigDict(extra="allow")  # keep whatever else the file holds

    access_token: SecretStr
    refresh_token: SecretStr
    expires_at: float
    client_id: str
    # Absent for a PKCE client: the refresh then sends client_id in the body instead.
    client_secret: SecretStr | None = None

    def expired(self, now: float, margin: float = 30.0) -> bool:
        return now + margin >= self.expires_at

    def refresh_request(self) -> tuple[dict[str, str], dict[str, str]]:
        """The form and headers of the refresh-token grant."""
        form = {
            "grant_type": "refresh_token",
            "refresh_token": self.refresh_token.get_secret_value(),
        }
        headers: dict[str, str] = {}
        if self.client_secret is None:
            form["client_id"] = self.client_id
        else:
            pair = f"{self.client_id}:{self.client_secret.get_secret_value()}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        return form, headers

    def refreshed(
        self, access_token: str, expires_in: int, refresh_token: str | None, now: float
    ) -> Tokens:
        return self.model_copy(
            update={
                "access_token": SecretStr(access_token),
                "expires_at": now + expires_in,
                # Spotify may rotate the refresh token; if it did not, the old one stays valid.
                "refresh_token": SecretStr(refresh_token) if refresh_token else self.refresh_token,
            }
        )


class TokenFile:
    """``--token-file``: JSON with access_token, refresh_token, expires_at (epoch seconds),
    client_id and client_secret."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> Tokens:
        try:
            text = self.path.read_text()
        except OSError as error:
            raise TokenFileError(
                f"cannot read the token file {self.path}: {error.strerror}"
            ) from None
        try:
            return Tokens.model_validate_json(text)
        except ValidationError as error:
            # Name the fields at fault, never their values.
            fields = ", ".join(
                sorted({".".join(map(str, e["loc"])) or "(file)" for e in error.errors()})
            )
            raise TokenFileError(
                f"the token file {self.path} is not valid: check {fields} "
                "(JSON with access_token, refresh_token, expires_at, client_id, client_secret)"
            ) from None

    def save(self, tokens: Tokens) -> None:
        data = tokens.model_dump(mode="python", exclude_none=True)
        for key, value in data.items():
            if isinstance(value, SecretStr):
                data[key] = value.get_secret_value()
        try:
            self._write(data)
        except OSError as error:
            raise TokenFileError(
                f"cannot write the refreshed tokens to {self.path} ({error.strerror}); "
                "the token file must stay writable, and may now need a new authorization"
            ) from None

    def _write(self, data: dict[str, object]) -> None:
        folder = self.path.parent
        fd, temp = tempfile.mkstemp(dir=folder, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(data, handle, indent=2)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
