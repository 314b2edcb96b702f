"""Nearest search: exact against brute force, filters, and how a result is shown."""

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from amparo.catalog import load_catalog
from amparo.geo import SpatialIndex, countries, haversine_km
from amparo.language import LanguageProfile
from amparo.search import (
    Hit,
    Query,
    ServiceSearch,
    brute_force,
    describe,
    format_km,
    help_lines,
    when,
)
from amparo.settings import settings

UTC = ZoneInfo("UTC")


@pytest.fixture(scope="module")
def services():
    return load_catalog(settings().catalog)


@pytest.fixture(scope="module")
def profiles():
    return {code: LanguageProfile.load(code) for code in ("es", "en", "pt")}


def test_index_agrees_with_brute_force_everywhere_on_earth():
    rng = np.random.default_rng(7)
    lat = np.degrees(np.arcsin(rng.uniform(-1, 1, 5000)))
    lon = rng.uniform(-180, 180, 5000)
    index = SpatialIndex(lat, lon)
    for qlat, qlon in zip(lat[:50] + 0.01, rng.uniform(-180, 180, 50), strict=True):
        found = [i for i, _ in index.nearest(qlat, qlon, 10)]
        assert found == list(brute_force(lat, lon, qlat, qlon, 10))
    # across the antimeridian and near the poles too
    for qlat, qlon in [(0, 179.99), (0, -179.99), (89.9, 0), (-89.9, 45)]:
        found = [i for i, _ in index.nearest(qlat, qlon, 5)]
        assert found == list(brute_force(lat, lon, qlat, qlon, 5))


def test_filtered_search_is_exact_too():
    rng = np.random.default_rng(11)
    lat, lon = rng.uniform(-40, 30, 3000), rng.uniform(-110, -35, 3000)
    index = SpatialIndex(lat, lon)
    rare = set(rng.choice(3000, 40, replace=False).tolist())
    found = [i for i, _ in index.nearest(0, -75, 7, accept=rare.__contains__)]
    everyone = brute_force(lat, lon, 0, -75, 3000)
    assert found == [i for i in everyone if i in rare][:7]


def test_distances_are_great_circle_km():
    index = SpatialIndex([14.6407], [-90.5133])
    [(position, km)] = index.nearest(14.9054, -92.2589, 3)
    assert position == 0
    assert km == pytest.approx(
        float(haversine_km(14.9054, -92.2589, 14.6407, -90.5133))
    )


def test_empty_index_and_zero_count():
    assert SpatialIndex([], []).nearest(0, 0, 3) == []
    assert SpatialIndex([1], [1]).nearest(0, 0, 0) == []


def test_search_filters_by_type_population_open_now_and_language(services):
    search = ServiceSearch(services)
    at = (14.90541, -92.25891)
    shelters = search.nearest(Query(*at, "shelter"), limit=100)
    assert shelters and all("shelter" in h.service.types for h in shelters)
    assert [h.distance_km for h in shelters] == sorted(h.distance_km for h in shelters)

    women = search.nearest(Query(*at, "shelter", population="women"), limit=100)
    assert all(h.service.serves("women") for h in women)
    assert {h.service.id for h in women} < {h.service.id for h in shelters}

    sunday_night = dt.datetime(2026, 11, 23, 4, 0, tzinfo=UTC)
    open_legal = search.nearest(Query(*at, "legal", open_at=sunday_night), limit=100)
    assert open_legal and all(h.service.is_open(sunday_night) for h in open_legal)

    portuguese = search.nearest(Query(*at, "health", language="pt"), limit=100)
    assert portuguese and all("pt" in h.service.languages for h in portuguese)
    assert search.nearest(Query(*at, "no-such-type")) == []


def test_offset_pages_through_the_same_order(services):
    search = ServiceSearch(services)
    query = Query(-12.05, -77.04, "mhpss")
    everything = search.nearest(query, limit=9)
    assert search.nearest(query, offset=3, limit=3) == everything[3:6]


def test_describe_open_closed_always(services, profiles):
    by_id = {s.id: s for s in services}
    always = next(s for s in services if s.opening_hours == "24/7")
    office = next(s for s in services if s.opening_hours == "Mo-Fr 08:00-17:00")
    local = ZoneInfo(office.timezone)
    tuesday_10 = dt.datetime(2026, 11, 24, 10, 0, tzinfo=local)
    friday_18 = dt.datetime(2026, 11, 27, 18, 0, tzinfo=local)
    kind, params = describe(Hit(always, 1.25), profiles["es"], tuesday_10)
    assert kind == "always" and params["distance"] == "1,2 km"
    kind, params = describe(Hit(office, 12.4), profiles["en"], tuesday_10)
    assert (kind, params["until"], params["distance"]) == ("open", "17:00", "12 km")
    kind, params = describe(Hit(office, 0.3), profiles["pt"], friday_18)
    assert (kind, params["opens"]) == ("closed", "segunda-feira 08:00")
    assert params["description"] == office.description["pt"]
    assert by_id[office.id] is office


def test_when_and_km_read_naturally(profiles):
    zone = ZoneInfo("America/Bogota")
    now = dt.datetime(2026, 11, 23, 20, 0, tzinfo=zone)
    es = profiles["es"]
    assert when(now.replace(hour=22), now, es) == "22:00"
    assert when(now + dt.timedelta(hours=13), now, es) == "mañana 09:00"
    assert when(now + dt.timedelta(days=3), now, es) == "jueves 20:00"
    assert format_km(0.04, profiles["en"]) == "0.0 km"
    assert format_km(2345.6, profiles["es"]) == "2 346 km"


def test_help_lines_in_the_reply_language():
    assert help_lines(countries()["BR"], "pt").startswith("190 (polícia) · 192")
    assert help_lines(countries()["MX"], "en") == "911 (emergencies)"
