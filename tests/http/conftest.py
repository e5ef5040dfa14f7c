"""An app per test, on the session's wire server, driven in process over ASGI.

``app_settings`` is a fixture so that a module or a test can change a setting, e.g.::

    @pytest.fixture
    def settings_overrides() -> dict[str, Any]:
        return {"max_likes": 5}
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient
from starlette.applications import Starlette

from server.app import create_app
from server.settings import Settings


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {}


@pytest.fixture
def app_settings(wire_uri: str, db_name: str, settings_overrides: dict[str, Any]) -> Settings:
    return Settings(mongodb_uri=wire_uri, db=f"http_{db_name}", **settings_overrides)


@pytest.fixture
def app(app_settings: Settings) -> Starlette:
    return create_app(app_settings)


@pytest.fixture
async def app_client(app: Starlette, app_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client of ``app`` with its lifespan running: ``app.state.store`` is the live store."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client
    assert app_settings.mongodb_uri is not None
    admin: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(app_settings.mongodb_uri)
    try:
        await admin.drop_database(app_settings.db)
    finally:
        await admin.close()
