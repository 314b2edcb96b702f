"""The service catalog: the sample file, the validator's report, opening hours."""

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from amparo.catalog import CatalogError, load_catalog, main, validate

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "services_catalog.yml"
DATA = ROOT / "amparo" / "data"
UTC = ZoneInfo("UTC")


def valid_entry(**changes):
    """One valid entry, written out here, with some fields changed."""
    entry = {
        "id": "mx-test-casa",
        "name": "Casa de Prueba",
        "organisation": "Red de Prueba",
        "network": "rssn",
        "mobile": False,
        "types": ["shelter", "food"],
        "populations": ["everyone"],
        "country": "MX",
        "city": "Tapachula",
        "address": "Calle 1, Centro",
        "latitude": 14.9056,
        "longitude": -92.2636,
        "opening_hours": "Mo-Fr 08:00-17:00",
        "timezone": "America/Mexico_City",
        "phone": "+52 962 000 0101",
        "whatsapp": None,
        "languages": ["es", "en"],
        "free": True,
        "any_legal_status": True,
        "last_verified": dt.date(2025, 6, 1),
        "description": {
            "es": "Albergue temporal.",
            "en": "Temporary shelter.",
            "pt": "Abrigo temporário.",
        },
    }
    entry.update(changes)
    return entry


def point(**changes):
    points, problems = validate([valid_entry(**changes)])
    assert problems == []
    return points[0]


def write_catalog(path, entries):
    path.write_text(
        yaml.safe_dump({"services": entries}, allow_unicode=True), encoding="utf-8"
    )
    return path


def ids(path):
    return set(yaml.safe_load(path.read_text(encoding="utf-8")))


# --- the sample catalog ---------------------------------------------------------------


@pytest.fixture(scope="module")
def sample():
    return load_catalog(SAMPLE)


def test_sample_catalog_loads_all_78_entries(sample):
    assert len(sample) == 78
    assert len({p.id for p in sample}) == 78


def test_sample_catalog_covers_every_country(sample):
    known = set(yaml.safe_load((DATA / "countries.yml").read_text())["countries"])
    assert len(known) == 15
    assert {p.country for p in sample} == known


def test_sample_catalog_uses_every_service_type(sample):
    assert set().union(*(p.types for p in sample)) == ids(DATA / "service_types.yml")


def test_sample_catalog_uses_every_population(sample):
    assert set().union(*(p.populations for p in sample)) == ids(
        DATA / "populations.yml"
    )


def test_sample_catalog_header_says_it_is_sample_data():
    header = SAMPLE.read_text(encoding="utf-8").split("\nservices:")[0]
    assert all(line.startswith("#") for line in header.splitlines())
    assert "SAMPLE DATA - DO NOT DEPLOY" in header
    assert "INVENTED" in header


# --- the validator ------------------------------------------------------------------


def test_valid_entry_gives_a_point_and_no_problems():
    points, problems = validate([valid_entry()])
    assert problems == []
    assert [p.id for p in points] == ["mx-test-casa"]
    assert points[0].types == frozenset({"shelter", "food"})
    assert points[0].whatsapp is None


TOMORROW = dt.date.today() + dt.timedelta(days=1)


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("latitude", 95, "95 is out of range [-90, 90]"),
        ("longitude", -200, "-200 is out of range [-180, 180]"),
        ("latitude", "14.9", "must be a number"),
        ("types", ["shelter", "spa"], "unknown service type 'spa'"),
        ("types", [], "must be a non-empty list"),
        ("populations", ["pirates"], "unknown population 'pirates'"),
        ("opening_hours", "Mo-Fx 25:00", "is not valid opening_hours syntax"),
        ("timezone", "Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
        (
            "description",
            {"es": "Albergue.", "en": "Shelter."},
            "missing translation: pt",
        ),
        ("description", {"es": "a", "en": "b", "pt": "  "}, "missing translation: pt"),
        ("phone", "12345", "'12345' is not an international number"),
        ("whatsapp", "962 000 0101", "is not an international number"),
        ("last_verified", TOMORROW, f"{TOMORROW} is in the future"),
        ("last_verified", "not-a-date", "'not-a-date' is not a date (YYYY-MM-DD)"),
        ("mobile", "yes", "must be true or false, not 'yes'"),
        ("free", "yes", "must be true or false, not 'yes'"),
        ("any_legal_status", "yes", "must be true or false, not 'yes'"),
        ("country", "XX", "unknown country 'XX'"),
        ("network", "un", "unknown network 'un'"),
        ("languages", ["es", "xx"], "unknown language 'xx'"),
        ("name", "   ", "must be non-empty text"),
    ],
)
def test_bad_value_is_reported_with_entry_and_field(field, value, reason):
    entries = [valid_entry(id="first"), valid_entry(id="the-id", **{field: value})]
    points, problems = validate(entries)
    assert points == []
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"entry 2 (the-id): field '{field}': ")
    assert reason in problems[0]


def test_duplicate_id_names_both_entries():
    entries = [valid_entry(id="the-id"), valid_entry(), valid_entry(id="the-id")]
    _, problems = validate(entries)
    assert problems == ["entry 3 (the-id): field 'id': duplicate of entry 1"]


@pytest.mark.parametrize("field", ["phone", "opening_hours", "description"])
def test_missing_field_is_reported(field):
    entry = valid_entry(id="the-id")
    del entry[field]
    _, problems = validate([valid_entry(id="first"), entry])
    assert problems == [f"entry 2 (the-id): field '{field}' is missing"]


def test_missing_id_names_the_entry_by_number():
    entry = valid_entry()
    del entry["id"]
    _, problems = validate([valid_entry(id="first"), entry])
    assert problems == ["entry 2: field 'id' is missing"]


def test_unknown_field_is_reported():
    _, problems = validate([valid_entry(id="the-id", email="a@b.org")])
    assert problems == ["entry 1 (the-id): field 'email' is not part of the schema"]


def test_bad_id_is_reported():
    _, problems = validate([valid_entry(id="Casa Uno")])
    assert len(problems) == 1
    assert problems[0].startswith("entry 1 (Casa Uno): field 'id': ")


def test_entry_that_is_not_a_mapping_is_reported():
    _, problems = validate([valid_entry(), "just text"])
    assert problems == ["entry 2: must be a mapping of fields"]


@pytest.mark.parametrize("entries", [[], None, {"id": "x"}])
def test_services_must_be_a_non_empty_list(entries):
    assert validate(entries) == ([], ["'services' must be a non-empty list of entries"])


def test_where_names_the_entries():
    _, problems = validate([valid_entry(latitude=95)], where="row {}".format)
    assert problems[0].startswith("row 1 (mx-test-casa): field 'latitude': ")


def test_all_problems_are_reported_at_once():
    entries = [
        valid_entry(id="one", latitude=95, phone="12345"),
        valid_entry(id="two"),
        valid_entry(id="three", types=["spa"]),
    ]
    _, problems = validate(entries)
    assert [p.split(":")[0:2] for p in problems] == [
        ["entry 1 (one)", " field 'latitude'"],
        ["entry 1 (one)", " field 'phone'"],
        ["entry 3 (three)", " field 'types'"],
    ]


# --- load_catalog and the command line ------------------------------------------------


def test_load_catalog_reports_every_broken_entry(tmp_path):
    path = write_catalog(
        tmp_path / "catalog.yml",
        [
            valid_entry(id="one", latitude=95),
            valid_entry(id="two"),
            valid_entry(id="three", timezone="Mars/Olympus"),
        ],
    )
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    assert len(caught.value.problems) == 2
    assert "entry 1 (one): field 'latitude'" in caught.value.problems[0]
    assert "entry 3 (three): field 'timezone'" in caught.value.problems[1]
    message = str(caught.value)
    assert message.startswith(f"{path}: 2 problem(s)")
    assert "entry 1 (one)" in message
    assert "entry 3 (three)" in message


def test_load_catalog_reads_a_valid_file(tmp_path):
    path = write_catalog(tmp_path / "catalog.yml", [valid_entry()])
    [loaded] = load_catalog(path)
    assert loaded.id == "mx-test-casa"
    assert loaded.last_verified == dt.date(2025, 6, 1)


def test_load_catalog_refuses_text_that_is_not_yaml(tmp_path):
    path = tmp_path / "catalog.yml"
    path.write_text("services: [\n  {id: broken\n", encoding="utf-8")
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    [problem] = caught.value.problems
    assert problem.startswith("not valid YAML")


def test_load_catalog_refuses_a_missing_file(tmp_path):
    path = tmp_path / "nowhere.yml"
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    assert caught.value.problems == ["cannot read the file: No such file or directory"]
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    "text", ["- id: a\n- id: b\n", "catalog:\n  - id: a\n", "just a sentence\n", ""]
)
def test_load_catalog_needs_a_services_key(tmp_path, text):
    path = tmp_path / "catalog.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    assert caught.value.problems == ["the file must have a top-level 'services' list"]


def test_load_catalog_refuses_an_empty_services_list(tmp_path):
    path = tmp_path / "catalog.yml"
    path.write_text("services:\n", encoding="utf-8")
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    assert caught.value.problems == ["'services' must be a non-empty list of entries"]


def test_check_accepts_the_sample_catalog(capsys):
    assert main(["check", str(SAMPLE)]) == 0
    out, err = capsys.readouterr()
    assert "78 service points in 15 countries, valid" in out
    assert err == ""


def test_check_prints_the_problems_and_fails(tmp_path, capsys):
    path = write_catalog(
        tmp_path / "catalog.yml",
        [valid_entry(id="one", latitude=95), valid_entry(id="two", country="XX")],
    )
    assert main(["check", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "Invalid service catalog" in err
    assert "2 problem(s)" in err
    assert "  - entry 1 (one): field 'latitude'" in err
    assert "  - entry 2 (two): field 'country'" in err


def test_check_fails_on_a_missing_file(tmp_path, capsys):
    assert main(["check", str(tmp_path / "nowhere.yml")]) == 1
    assert "cannot read the file" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv", [[], ["check"], ["lint", "services_catalog.yml"], ["check", "a", "b"]]
)
def test_check_explains_its_usage(argv, capsys):
    assert main(argv) == 2
    assert "usage: python -m amparo.catalog check FILE" in capsys.readouterr().err


# --- opening hours in the service's own time zone -------------------------------------


def at_utc(*args):
    return dt.datetime(*args, tzinfo=UTC)


@pytest.fixture
def mexico_office():
    return point(opening_hours="Mo-Fr 08:00-17:00", timezone="America/Mexico_City")


def test_open_monday_morning_local_time(mexico_office):
    # 15:00 UTC is Monday 09:00 in Mexico City (UTC-6)
    assert mexico_office.is_open(at_utc(2026, 11, 23, 15, 0)) is True


def test_closed_sunday_evening_local_time(mexico_office):
    # 02:00 UTC on Monday is still Sunday 20:00 in Mexico City
    assert mexico_office.is_open(at_utc(2026, 11, 23, 2, 0)) is False


def test_open_when_utc_clock_is_past_closing(mexico_office):
    # 20:00 UTC would be closed in UTC, but it is 14:00 in Mexico City
    assert mexico_office.is_open(at_utc(2026, 11, 23, 20, 0)) is True


def test_closed_when_utc_clock_is_within_hours(mexico_office):
    # 10:00 UTC would be open in UTC, but it is 04:00 in Mexico City
    assert mexico_office.is_open(at_utc(2026, 11, 23, 10, 0)) is False


def test_same_instant_in_another_zone_gives_same_answer(mexico_office):
    madrid = dt.datetime(2026, 11, 23, 21, 0, tzinfo=ZoneInfo("Europe/Madrid"))
    assert madrid == at_utc(2026, 11, 23, 20, 0)
    assert mexico_office.is_open(madrid) is True


def test_next_change_is_closing_time_in_local_time(mexico_office):
    change = mexico_office.next_change(at_utc(2026, 11, 23, 15, 0))
    assert change == at_utc(2026, 11, 23, 23, 0)  # 17:00 in Mexico City
    assert change.astimezone(ZoneInfo("America/Mexico_City")).hour == 17


def test_next_change_is_monday_opening_in_local_time(mexico_office):
    change = mexico_office.next_change(at_utc(2026, 11, 23, 2, 0))
    assert change == at_utc(2026, 11, 23, 14, 0)  # Monday 08:00 in Mexico City


def test_always_open_service_never_changes():
    always = point(opening_hours="24/7")
    assert always.is_open(at_utc(2026, 11, 22, 3, 0)) is True
    assert always.next_change(at_utc(2026, 11, 22, 3, 0)) is None


def test_same_hours_in_different_zones_differ_at_one_instant():
    bogota = point(timezone="America/Bogota")  # UTC-5
    sao_paulo = point(timezone="America/Sao_Paulo")  # UTC-3
    # 21:30 UTC is 16:30 in Bogotá and 18:30 in São Paulo
    instant = at_utc(2026, 11, 23, 21, 30)
    assert bogota.is_open(instant) is True
    assert sao_paulo.is_open(instant) is False


# --- who a service serves -------------------------------------------------------------


def test_service_for_women_serves_women_only():
    women = point(populations=["women"])
    assert women.serves(None)
    assert women.serves("women")
    assert not women.serves("children")
    assert not women.serves("lgbti")


def test_service_for_everyone_serves_every_group():
    everyone = point(populations=["everyone"])
    groups = ids(DATA / "populations.yml")
    assert all(everyone.serves(group) for group in groups)
    assert everyone.serves(None)


def test_service_for_several_groups_serves_each_of_them():
    several = point(populations=["women", "children"])
    assert several.serves("women")
    assert several.serves("children")
    assert not several.serves("gbv_survivors")
