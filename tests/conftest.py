"""Fixtures shared across the test packages."""

import pytest

from amparo.geo import Gazetteer, countries

# Keys for the tests' own stores only (amparo/contacts.py).
TEST_ID_KEY = "test-pseudonym-key-0123456789abcdefghijklmnop"
TEST_DATA_KEY = "bSq0DqTvxcVhWvoVLd4uTGyfEKXvw9jLNJfQ4_MNb9s="


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
    """Every test that touches the case store gets an empty one of its own, never the
    one `make run` uses."""
    from amparo.contacts import contacts
    from amparo.handoff import case_store
    from amparo.settings import settings

    monkeypatch.setenv("AMPARO_CASES_DB", f"sqlite:///{tmp_path / 'cases.db'}")
    monkeypatch.setenv("AMPARO_ID_KEY", TEST_ID_KEY)
    monkeypatch.setenv("AMPARO_DATA_KEYS", TEST_DATA_KEY)
    caches = (settings, case_store, contacts)
    for cached in caches:
        cached.cache_clear()
    yield
    for cached in caches:
        cached.cache_clear()


@pytest.fixture
def store():
    from amparo.handoff import case_store

    return case_store()
