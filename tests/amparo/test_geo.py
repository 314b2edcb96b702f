"""The offline gazetteer, coordinates and distances."""

import pytest
import yaml

from amparo.geo import (
    Gazetteer,
    Place,
    countries,
    country_named,
    haversine_km,
    parse_coordinates,
)
from amparo.settings import settings


def key(resolution):
    return resolution.place.key if resolution.place else None


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("Cúcuta", "Cúcuta, CO"),
        ("cucuta", "Cúcuta, CO"),
        ("CUCUTA", "Cúcuta, CO"),
        ("Ciudad de Panamá", "Panama City, PA"),
        ("ciudad de panama", "Panama City, PA"),
        ("Juárez", "Ciudad Juárez, MX"),
        ("Sampa", "São Paulo, BR"),
        ("sao paulo", "São Paulo, BR"),
        ("Necocli", "Necoclí, CO"),
        ("Huaquillas", "Huaquillas, EC"),
        ("Tumbes", "Tumbes, PE"),
        ("Arica", "Arica, CL"),
        ("Pacaraima", "Pacaraima, BR"),
        ("foz do iguacu", "Foz do Iguaçu, BR"),
        ("Lima", "Lima, PE"),
        ("panama", "Panama City, PA"),
    ],
)
def test_towns_with_or_without_accents_and_common_names(gazetteer, typed, expected):
    assert key(gazetteer.resolve(typed)) == expected


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("Bajo Chiquito", "Bajo Chiquito, PA"),
        ("rumichaca", "Puente Internacional de Rumichaca, CO"),
        # The Chiapas border town, not the larger Ciudad Hidalgo in Michoacán.
        ("Ciudad Hidalgo", "Ciudad Hidalgo, MX"),
    ],
)
def test_route_places_the_town_list_lacks_or_gets_wrong(gazetteer, typed, expected):
    place = gazetteer.resolve(typed).place
    assert place.key == expected and place.route
    if typed == "Ciudad Hidalgo":
        assert place.latitude == pytest.approx(14.68, abs=0.05)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("estoy en tapachula", "Tapachula, MX"),
        ("i'm in tapachula", "Tapachula, MX"),
        ("estou em pacaraima", "Pacaraima, BR"),
        ("tapachula chiapas", "Tapachula, MX"),
        ("tapachula, chiapas", "Tapachula, MX"),
        ("Tapachula, MX", "Tapachula, MX"),
        ("San José, Costa Rica", "San José, CR"),
        ("san jose costa rica", "San José, CR"),
    ],
)
def test_words_around_the_name_and_a_country_qualifier(gazetteer, typed, expected):
    assert key(gazetteer.resolve(typed)) == expected


@pytest.mark.parametrize(
    ("typed", "countries_offered"),
    [("San José", {"US", "CR"}), ("Santiago", {"CL", "DO"})],
)
def test_ambiguous_names_offer_a_choice(gazetteer, typed, countries_offered):
    resolution = gazetteer.resolve(typed)
    assert resolution.place is None
    assert {p.country for p in resolution.choices} == countries_offered


def test_a_town_own_name_beats_another_town_alternate_name(gazetteer):
    assert key(gazetteer.resolve("kingston")) != "West Lafayette, US"
    assert key(gazetteer.resolve("guadalupe")) != "Gustavo A. Madero, MX"
    # A country's name may be its capital's alternate name: shown, so not silent.
    assert gazetteer.resolve("el salvador").place.country == "SV"


def test_every_catalog_town_resolves_in_its_country(gazetteer):
    catalog = yaml.safe_load(settings().catalog.read_text(encoding="utf-8"))
    for entry in catalog["services"]:
        place = gazetteer.resolve(f"{entry['city']}, {entry['country']}").place
        assert place is not None and place.country == entry["country"], entry["city"]
        km = haversine_km(
            place.latitude, place.longitude, entry["latitude"], entry["longitude"]
        )
        assert float(km) < 30, entry["id"]


def test_the_darien_means_the_stations_in_panama(gazetteer):
    assert gazetteer.resolve("el darien").place.country == "PA"


def test_the_conversation_or_the_answer_settles_an_ambiguous_name(gazetteer):
    assert key(gazetteer.resolve("San José", country="CR")) == "San José, CR"
    # ...but only with a real town there: not a hamlet of the same name.
    assert gazetteer.resolve("San José", country="MX").choices
    choices = [p.key for p in gazetteer.resolve("Santiago").choices]
    assert key(gazetteer.resolve("chile", choices=choices)) == "Santiago, CL"
    assert key(gazetteer.resolve("el de republica dominicana", choices=choices)) == (
        "Santiago de los Caballeros, DO"
    )
    # A whole sentence that mentions a country is not an answer to the question.
    assert (
        key(
            gazetteer.resolve(
                "no, we are in costa rica, help us", choices=["San Jose, US"]
            )
        )
        != "San Jose, US"
    )
    # A country that was not offered: the same name, looked up there.
    assert key(gazetteer.resolve("costa rica", choices=["San Jose, US"])) == (
        "San José, CR"
    )


@pytest.mark.parametrize(
    "typed",
    [
        "xyzzy",
        "",
        "   ",
        "hola",
        "no se",
        "Tapachula, Chile",
        "tapachula chile",
        "x" * 5000,
        # A country alone is a town of that name there, or nothing (Peru, Indiana is
        # not where someone in Peru is).
        "estoy en peru",
        "im in brazil",
        "trinidad",
        "honduras",
        # A kind of place, not a town.
        "estoy en la calle",
        "estoy en el centro",
        "to no centro",
        "la selva",
        "im downtown",
        # Alternate names too short to mean one town.
        "la",
        "el",
    ],
)
def test_unknown_places_are_not_guessed(gazetteer, typed):
    resolution = gazetteer.resolve(typed)
    assert resolution.place is None and resolution.choices == ()


def test_places_outside_the_preferred_countries_only_when_nothing_else_matches():
    here = Place("Springfield", "US", 39.8, -89.6, 100_000)
    there = Place("Springfield", "JM", 18.0, -77.0, 50_000)
    gazetteer = Gazetteer([(here, []), (there, [])], preferred={"JM"})
    assert key(gazetteer.resolve("springfield")) == "Springfield, JM"
    alone = Gazetteer([(here, [])], preferred={"JM"})
    assert key(alone.resolve("springfield")) == "Springfield, US"


def test_a_route_alias_must_point_at_a_known_place():
    with pytest.raises(ValueError, match="nowhere"):
        Gazetteer([], aliases={"nowhere": "Atlantis, XX"})


def test_nearest_town_to_a_pin(gazetteer):
    assert gazetteer.nearest(14.906, -92.263).key == "Tapachula, MX"
    assert gazetteer.nearest(7.894, -72.508).country == "CO"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("14.906,-92.263", (14.906, -92.263)),
        (" -33.45 , -70.66 ", (-33.45, -70.66)),
        ("8;-77", (8.0, -77.0)),
        ("95,10", None),
        ("10,190", None),
        ("tapachula", None),
        ("", None),
        (None, None),
        ("1,2,3", None),
    ],
)
def test_coordinates(text, expected):
    assert parse_coordinates(text) == expected


def test_haversine_matches_a_known_distance():
    # Tapachula → Ciudad de Guatemala is about 190 km as the crow flies.
    km = float(haversine_km(14.9054, -92.2589, 14.6407, -90.5133))
    assert km == pytest.approx(190, abs=3)
    assert float(haversine_km(0, 0, 0, 180)) == pytest.approx(20015, abs=1)


def test_countries_have_names_and_help_lines_in_every_language():
    assert len(countries()) == 15
    for country in countries().values():
        assert set(country.names) == {"es", "en", "pt"}
        assert country.lines and country.source
        for line in country.lines:
            assert line.number.isdigit() and set(line.labels) == {"es", "en", "pt"}
    assert country_named("Costa Rica") == "CR" and country_named("cr") == "CR"
    assert country_named("brazil") == "BR" and country_named("narnia") is None
