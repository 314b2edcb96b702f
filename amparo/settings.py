"""Settings from the environment: one object per process (README, "Settings")."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    catalog: Path = ROOT / "services_catalog.yml"
    nearby_km: float = 50.0  # farther than this, a result is "not near": say so

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        nearby = env.get("AMPARO_NEARBY_KM", str(cls.nearby_km))
        try:
            nearby_km = float(nearby)
        except ValueError:
            raise ValueError(
                f"AMPARO_NEARBY_KM must be a number of km, not {nearby!r}"
            ) from None
        if not 0 < nearby_km <= 20_000:
            raise ValueError(
                f"AMPARO_NEARBY_KM must be between 0 and 20000, not {nearby}"
            )
        return cls(
            catalog=Path(env.get("AMPARO_CATALOG") or cls.catalog),
            nearby_km=nearby_km,
        )


@cache
def settings() -> Settings:
    return Settings.from_env()
