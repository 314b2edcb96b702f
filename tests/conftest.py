"""Fixtures shared across the test packages."""

import pytest

from amparo.geo import Gazetteer, countries


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
