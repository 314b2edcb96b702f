"""Nearest service points: exact great-circle search on a k-d tree.

Points go on the unit sphere as 3-D vectors; the straight-line (chord) distance between
two such vectors grows with the great-circle distance, so the k-d tree's nearest
neighbours are exactly the nearest by haversine (bench/search.py checks it against brute
force). One tree per service type, built once; filters (population, open now, language)
are applied walking outwards, asking the tree for more neighbours until enough pass.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from amparo.catalog import ServicePoint
from amparo.geo import Country, SpatialIndex, haversine_km
from amparo.language import LanguageProfile
from amparo.services import populations


@dataclass(frozen=True)
class Hit:
    service: ServicePoint
    distance_km: float


@dataclass(frozen=True)
class Query:
    latitude: float
    longitude: float
    service_type: str
    population: str | None = None  # keep services for everyone or for this group
    open_at: dt.datetime | None = None  # keep services open at this (aware) time
    language: str | None = None  # keep services whose staff speak it


class ServiceSearch:
    """The catalog's service points, searchable by type and distance."""

    def __init__(self, services: Sequence[ServicePoint]):
        self.services = tuple(services)
        self._by_type: dict[str, tuple[list[ServicePoint], SpatialIndex]] = {}
        for kind in sorted({t for s in self.services for t in s.types}):
            members = [s for s in self.services if kind in s.types]
            index = SpatialIndex(
                [s.latitude for s in members], [s.longitude for s in members]
            )
            self._by_type[kind] = (members, index)

    def covered_countries(self) -> frozenset[str]:
        return frozenset(s.country for s in self.services)

    def nearest(self, query: Query, *, offset: int = 0, limit: int = 3) -> list[Hit]:
        """Hits ``offset`` to ``offset + limit`` in order of distance."""
        members, index = self._by_type.get(
            query.service_type, ([], SpatialIndex([], []))
        )

        def accept(position: int) -> bool:
            service = members[position]
            return (
                service.serves(query.population)
                and (query.open_at is None or service.is_open(query.open_at) is True)
                and (query.language is None or query.language in service.languages)
            )

        found = index.nearest(query.latitude, query.longitude, offset + limit, accept)
        return [Hit(members[i], km) for i, km in found[offset:]]


def brute_force(
    latitudes: np.ndarray,
    longitudes: np.ndarray,
    latitude: float,
    longitude: float,
    k: int,
) -> np.ndarray:
    """The k nearest positions by haversine over every point: the reference."""
    km = haversine_km(latitude, longitude, latitudes, longitudes)
    nearest = np.argpartition(km, min(k, len(km) - 1))[:k]
    return nearest[np.argsort(km[nearest], kind="stable")]


def describe(hit: Hit, profile: LanguageProfile, now: dt.datetime) -> tuple[str, dict]:
    """How a reply shows one result: the kind of result response ("open", "closed",
    "always", "unknown") and its parameters, in the person's language (catalog text is
    data)."""
    service = hit.service
    lang = profile.code
    groups = sorted(service.populations - {"everyone"})
    name = service.name
    if groups:
        name += f" ({', '.join(populations()[g].label(lang) for g in groups)})"
    params = {
        "name": name,
        "distance": format_km(hit.distance_km, profile),
        "address": f"{service.address}, {service.city}",
        "contact": contact(service),
        "map": map_link(service.latitude, service.longitude),
        "description": service.description[lang],
    }
    state, change = service.is_open(now), service.next_change(now)
    if state and change is None:
        return "always", params
    if state:
        return "open", {**params, "until": when(change, service.local(now), profile)}
    if state is False and change is not None:
        return "closed", {**params, "opens": when(change, service.local(now), profile)}
    # Unknown, or closed with no opening ahead: show the hours as the catalog has them.
    return "unknown", {**params, "hours": service.opening_hours}


def format_km(km: float, profile: LanguageProfile) -> str:
    text = f"{km:.1f}" if km < 10 else f"{km:,.0f}".replace(",", " ")
    return text.replace(".", profile.decimal_separator) + " km"


def when(moment: dt.datetime, now: dt.datetime, profile: LanguageProfile) -> str:
    """ "17:00", "mañana 08:00", "lunes 08:00": a time as a person reads it, both
    times in the service's own time zone."""
    days = (moment.date() - now.date()).days
    clock = moment.strftime("%H:%M")
    if days <= 0:
        return clock
    if days == 1:
        return f"{profile.tomorrow} {clock}"
    return f"{profile.weekdays[moment.weekday()]} {clock}"


def contact(service: ServicePoint) -> str:
    phone, whatsapp = service.phone, service.whatsapp
    if phone and whatsapp == phone:
        return f"{phone} (WhatsApp)"
    return " · ".join(filter(None, [phone, whatsapp and f"WhatsApp {whatsapp}"])) or "—"


def map_link(latitude: float, longitude: float) -> str:
    """OpenStreetMap, not a tracking-heavy map service; opens in any browser."""
    lat, lon = f"{latitude:.5f}", f"{longitude:.5f}"
    return f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=17/{lat}/{lon}"


def help_lines(country: Country, language: str) -> str:
    """ "911 (emergencias) · 155 (línea para mujeres)"."""
    return " · ".join(
        f"{line.number} ({line.labels[language]})" for line in country.lines
    )
