"""Fixtures shared across the test packages."""

import pytest

from amparo.geo import Gazetteer, countries


@pytest.fixture(scope="session")
def gazetteer() -> Gazetteer:
    """The real gazetteer (a few seconds to build): built once per test run."""
    from amparo.language import LanguageProfile

    fillers = {
        f
        for code in ("es", "en", "pt")
        for f in LanguageProfile.load(code).place_fillers
    }
    return Gazetteer.from_geonames(preferred=countries(), fillers=fillers)
