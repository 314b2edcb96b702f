"""Fixtures shared across the test packages."""

import contextlib
import os
from collections.abc import Iterator

import pytest

from amparo.geo import Gazetteer, countries

# Keys for the tests' own stores only (amparo/contacts.py).
TEST_ID_KEY = "test-pseudonym-key-0123456789abcdefghijklmnop"
TEST_DATA_KEY = "bSq0DqTvxcVhWvoVLd4uTGyfEKXvw9jLNJfQ4_MNb9s="
# The action package checks the keys when it is imported, before any fixture runs.
os.environ.setdefault("AMPARO_DATA_KEYS", TEST_DATA_KEY)


@pytest.fixture(scope="session")
def gazetteer() -> Gazetteer:
    """The real gazetteer (a few seconds to build): built once per test run."""
    from amparo.language import LanguageProfile

    profiles = [LanguageProfile.load(code) for code in ("es", "en", "pt")]
    return Gazetteer.from_geonames(
        preferred=countries(),
        fillers={f for p in profiles for f in p.place_fillers},
        generic={g for p in profiles for g in p.generic_places},
    )


@pytest.fixture(autouse=True)
def _own_case_store(tmp_path, monkeypatch):
    """Every test that touches the case store (or Rasa's history) gets an empty one
    of its own, never the one `make run` uses."""
    from amparo.contacts import contacts
    from amparo.handoff import case_store
    from amparo.sealing import ciphers
    from amparo.settings import settings

    monkeypatch.setenv("AMPARO_CASES_DB", f"sqlite:///{tmp_path / 'cases.db'}")
    monkeypatch.setenv("AMPARO_TRACKER_DB", f"sqlite:///{tmp_path / 'tracker.db'}")
    monkeypatch.setenv("AMPARO_ID_KEY", TEST_ID_KEY)
    monkeypatch.setenv("AMPARO_DATA_KEYS", TEST_DATA_KEY)
    caches = (settings, case_store, contacts, ciphers)
    for cached in caches:
        cached.cache_clear()
    yield
    for cached in caches:
        cached.cache_clear()


@pytest.fixture
def store():
    from amparo.handoff import case_store

    return case_store()


# PostgreSQL for the tests that run on it too (.ci/run starts it when it is stopped).
POSTGRES = os.environ.get(
    "AMPARO_TEST_POSTGRES", "postgresql://postgres@127.0.0.1/test"
)


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database's URL, dropped after; skipped, saying so, where no
    PostgreSQL answers at AMPARO_TEST_POSTGRES."""
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT", future=True)
    name = f"amparo_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f"CREATE DATABASE {name}"))
    except OperationalError:
        admin.dispose()
        pytest.skip(f"no PostgreSQL at {POSTGRES} (set AMPARO_TEST_POSTGRES)")
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
        admin.dispose()


@pytest.fixture
def postgres_url():
    """A fresh PostgreSQL database for one test."""
    with postgres_database() as url:
        yield url
