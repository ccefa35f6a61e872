"""Shared fixtures: an isolated HPO_HOME per test, and URLs of the real database servers.

Server URLs come from the environment (``HPO_TEST_POSTGRES_URL``, ``HPO_TEST_MYSQL_URL``,
``HPO_TEST_REDIS_URL``) with the CI machine's servers as defaults. A test that needs a
server skips with the reason when none answers, except under ``CI=true``, where it
fails: CI must never pass by skipping the distributed storages.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

POSTGRES_URL = os.environ.get("HPO_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
MYSQL_URL = os.environ.get("HPO_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
REDIS_URL = os.environ.get("HPO_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _unavailable(what: str, exc: Exception) -> None:
    msg = f"{what} is not reachable ({type(exc).__name__}: {exc})"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{msg}; CI=true requires it")
    pytest.skip(msg)


@pytest.fixture(autouse=True)
def hpo_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own embedded default storage directory."""
    home = tmp_path / "hpo_home"
    monkeypatch.setenv("HPO_HOME", str(home))
    return home


@pytest.fixture
def study_name() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


def _rdb_url(url: str, what: str) -> str:
    import sqlalchemy

    try:
        engine = sqlalchemy.create_engine(url)
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        _unavailable(what, exc)
    return url


@pytest.fixture
def postgres_url() -> str:
    return _rdb_url(POSTGRES_URL, f"PostgreSQL at {POSTGRES_URL}")


@pytest.fixture
def mysql_url() -> str:
    return _rdb_url(MYSQL_URL, f"MariaDB/MySQL at {MYSQL_URL}")


@pytest.fixture
def redis_url() -> Iterator[str]:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except Exception as exc:
        _unavailable(f"Redis at {REDIS_URL}", exc)
    yield REDIS_URL


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``slow`` (minutes; a default test covers the same command path) run
    only when asked for: ``pytest -m slow`` (or any ``-m``), or ``HPO_RUN_SLOW=1``."""
    if config.getoption("-m") or os.environ.get("HPO_RUN_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: run with pytest -m slow or HPO_RUN_SLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
