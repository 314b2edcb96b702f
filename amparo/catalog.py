"""The service catalog: schema, loading and validation (docs/catalog.md).

Every problem names the entry and the field, and all are reported at once, so an
operator fixes a spreadsheet in one pass. ``python -m amparo.catalog check FILE`` prints
the report; ``scripts/lib.sh`` runs it and refuses to start the action server on an
invalid catalog.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from opening_hours import OpeningHours, State, UnknownCountryError

from amparo.geo import countries
from amparo.services import populations, service_types

LANGUAGES = ("es", "en", "pt")
NETWORKS = ("rssn", "hsp", "other")
# Languages staff may speak (ISO 639-1): ht is Haitian Creole, qu Quechua, gn Guarani.
SPOKEN = frozenset(["es", "en", "pt", "fr", "ht", "ar", "zh", "hi", "qu", "gn", "wo"])
_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_PHONE = re.compile(r"^\+[1-9][0-9 ]{6,18}$")


class CatalogError(Exception):
    """An invalid catalog; ``problems`` lists every error found."""

    def __init__(self, source: str, problems: list[str]):
        self.problems = problems
        listing = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s)\n{listing}")


@dataclass(frozen=True)
class ServicePoint:
    id: str
    name: str
    organisation: str
    network: str
    mobile: bool
    types: frozenset[str]
    populations: frozenset[str]
    country: str
    city: str
    address: str
    latitude: float
    longitude: float
    opening_hours: str
    timezone: str
    phone: str | None
    whatsapp: str | None
    languages: tuple[str, ...]
    free: bool
    any_legal_status: bool
    last_verified: dt.date
    description: Mapping[str, str]
    hours: OpeningHours = field(compare=False, repr=False)

    def is_open(self, at: dt.datetime) -> bool | None:
        """Open at ``at`` (aware) in the service's own time zone; None when unknown."""
        state = self.hours.state(self.local(at))[0]
        return {State.OPEN: True, State.CLOSED: False}.get(state)

    def next_change(self, at: dt.datetime) -> dt.datetime | None:
        """When it next opens or closes, in its own time zone; None if never."""
        return self.hours.next_change(self.local(at))

    def local(self, at: dt.datetime) -> dt.datetime:
        return at.astimezone(ZoneInfo(self.timezone))

    def serves(self, population: str | None) -> bool:
        return population is None or bool({"everyone", population} & self.populations)


# --- field checks: each returns the clean value or raises ValueError(reason) ---------


def _text(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be non-empty text")
    return " ".join(value.split())


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, not {value!r}")
    return value


def _number(low: float, high: float) -> Callable[[object], float]:
    def check(value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"must be a number, not {value!r}")
        if not low <= value <= high:
            raise ValueError(f"{value} is out of range [{low:g}, {high:g}]")
        return float(value)

    return check


def _one_of(known: Iterable[str], what: str) -> Callable[[object], str]:
    known = frozenset(known)

    def check(value: object) -> str:
        if not isinstance(value, str) or value not in known:
            raise ValueError(
                f"unknown {what} {value!r} (known: {', '.join(sorted(known))})"
            )
        return str(value)

    return check


def _list_of(check: Callable[[object], str]) -> Callable[[object], tuple[str, ...]]:
    def check_all(value: object) -> tuple[str, ...]:
        if not isinstance(value, list) or not value:
            raise ValueError("must be a non-empty list")
        return tuple(dict.fromkeys(check(item) for item in value))

    return check_all


def _identifier(value: object) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise ValueError(f"{value!r} must be lowercase letters, digits and hyphens")
    return value


def _phone(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _PHONE.match(value.strip()):
        raise ValueError(
            f"{value!r} is not an international number like +52 962 000 0101"
        )
    return value.strip()


def _timezone(value: object) -> str:
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError, OSError):  # "America" is a directory
        raise ValueError(f"unknown time zone {value!r}") from None
    return str(value)


def _hours(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(
            "must be an opening_hours expression such as 'Mo-Fr 08:00-17:00'"
        )
    try:
        OpeningHours(value)
    except Exception as error:  # the parser raises its own ParserError type
        first = str(error).strip().splitlines()[-1].strip(" =")
        raise ValueError(
            f"{value!r} is not valid opening_hours syntax ({first})"
        ) from None
    return value.strip()


def _date(value: object) -> dt.date:
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = dt.date.fromisoformat(value)
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)")
    if value > dt.date.today():
        raise ValueError(f"{value} is in the future")
    return value


def _description(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ValueError(f"must give a text for each of {', '.join(LANGUAGES)}")
    missing = [lang for lang in LANGUAGES if not str(value.get(lang) or "").strip()]
    if missing:
        raise ValueError(f"missing translation: {', '.join(missing)}")
    return {lang: " ".join(str(value[lang]).split()) for lang in LANGUAGES}


def _checks() -> dict[str, Callable[[object], object]]:
    return {
        "id": _identifier,
        "name": _text,
        "organisation": _text,
        "network": _one_of(NETWORKS, "network"),
        "mobile": _flag,
        "types": _list_of(_one_of(service_types(), "service type")),
        "populations": _list_of(_one_of(populations(), "population")),
        "country": _one_of(countries(), "country"),
        "city": _text,
        "address": _text,
        "latitude": _number(-90, 90),
        "longitude": _number(-180, 180),
        "opening_hours": _hours,
        "timezone": _timezone,
        "phone": _phone,
        "whatsapp": _phone,
        "languages": _list_of(_one_of(SPOKEN, "language")),
        "free": _flag,
        "any_legal_status": _flag,
        "last_verified": _date,
        "description": _description,
    }


def validate(
    entries: object, where: Callable[[int], str] = "entry {}".format
) -> tuple[list[ServicePoint], list[str]]:
    """The valid service points and a list of problems (empty when all is well).

    ``where`` names entry number n (from 1) in a problem: "entry 3", "row 5"."""
    if not isinstance(entries, list) or not entries:
        return [], ["'services' must be a non-empty list of entries"]
    checks = _checks()
    points: list[ServicePoint] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for number, entry in enumerate(entries, start=1):
        label = where(number)
        if not isinstance(entry, dict):
            problems.append(f"{label}: must be a mapping of fields")
            continue
        if isinstance(entry.get("id"), str):
            label = f"{where(number)} ({entry['id']})"
        values: dict[str, object] = {}
        for name, check in checks.items():
            if name not in entry:
                problems.append(f"{label}: field '{name}' is missing")
                continue
            try:
                values[name] = check(entry[name])
            except ValueError as reason:
                problems.append(f"{label}: field '{name}': {reason}")
        problems.extend(
            f"{label}: field '{name}' is not part of the schema"
            for name in entry
            if name not in checks
        )
        if "id" in values:
            if values["id"] in seen:
                problems.append(
                    f"{label}: field 'id': duplicate of {where(seen[values['id']])}"
                )
            seen.setdefault(str(values["id"]), number)
        if len(values) == len(checks):
            points.append(_point(values))
    return (points if not problems else []), problems


def _point(values: dict[str, object]) -> ServicePoint:
    zone = ZoneInfo(str(values["timezone"]))
    expression = str(values["opening_hours"])
    try:  # the country's public holidays ("PH off"), where the library knows them
        hours = OpeningHours(expression, timezone=zone, country=str(values["country"]))
    except UnknownCountryError:
        hours = OpeningHours(expression, timezone=zone, auto_country=False)
    return ServicePoint(
        **{
            **values,
            "types": frozenset(values["types"]),
            "populations": frozenset(values["populations"]),
        },
        hours=hours,
    )


def load_catalog(path: Path | str) -> list[ServicePoint]:
    """The service points in a catalog file, or :class:`CatalogError` with all
    problems."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise CatalogError(
            str(path), [f"cannot read the file: {error.strerror}"]
        ) from None
    except UnicodeDecodeError:
        raise CatalogError(str(path), ["not a UTF-8 text file (is it YAML?)"]) from None
    except yaml.YAMLError as error:
        raise CatalogError(str(path), [f"not valid YAML: {error}"]) from None
    if not isinstance(data, dict) or "services" not in data:
        raise CatalogError(
            str(path), ["the file must have a top-level 'services' list"]
        )
    points, problems = validate(data["services"])
    if problems:
        raise CatalogError(str(path), problems)
    return points


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] != "check":
        print("usage: python -m amparo.catalog check FILE", file=sys.stderr)
        return 2
    try:
        points = load_catalog(args[1])
    except CatalogError as error:
        print(f"Invalid service catalog {error}", file=sys.stderr)
        return 1
    spread = len({p.country for p in points})
    print(f"{args[1]}: {len(points)} service points in {spread} countries, valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
