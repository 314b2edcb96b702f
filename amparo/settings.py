"""Settings from the environment: one object per process (README, "Settings")."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from opening_hours import OpeningHours

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    catalog: Path = ROOT / "services_catalog.yml"
    nearby_km: float = 50.0  # farther than this, a result is "not near": say so
    # The case store (SQLAlchemy URL): SQLite here, PostgreSQL at scale.
    cases_db: str = f"sqlite:///{ROOT / 'var' / 'cases.db'}"
    # Rasa's tracker store (bot/trackers.py), also read to erase a person's history.
    tracker_db: str = f"sqlite:///{ROOT / 'var' / 'tracker.db'}"
    # A phone message whose Rasa process has not said for this long that its turn is
    # still going (it was killed, say) is taken up by a running one (channels/base.py).
    replay_after_seconds: float = 30.0
    # Conversations, closed cases and contacts older than this are deleted
    # (python -m amparo.privacy retention); the privacy notice says so.
    retention_days: float = 90.0
    # The privacy notice's words on sharing, in the operator's own words: a YAML file
    # with es, en and pt (empty: the domain's utter_sharing_statement).
    sharing_statement: Path | None = None
    # When caseworkers are on duty (OpenStreetMap opening_hours syntax), in which zone.
    team_hours: str = "Mo-Fr 08:00-18:00"
    team_timezone: str = "America/Panama"
    # Nobody has claimed a case after this long: the person is told, with the numbers.
    handoff_wait_minutes: float = 10.0
    # Asking for a person this soon after a case closed reopens the same case.
    reopen_hours: float = 72.0
    # The callback channel posts replies here (channels/callback.py).
    callback_url: str = ""
    # The address the world reaches this server at (behind a proxy, the proxy's):
    # Twilio signs the URL it called, so the check must use the same one.
    public_url: str = ""
    # Pseudonyms and addresses on the phone channels (amparo/contacts.py): the HMAC key
    # of conversation ids, and the Fernet keys the addresses are encrypted with (the
    # first encrypts; older ones still decrypt).
    id_key: str = ""
    data_keys: tuple[str, ...] = ()
    # WhatsApp and SMS through Twilio (channels/twilio.py).
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_sms_from: str = ""
    twilio_whatsapp_from: str = ""
    twilio_api_url: str = "https://api.twilio.com"
    # Telegram (channels/telegram.py).
    telegram_token: str = ""
    telegram_secret: str = ""
    telegram_api_url: str = "https://api.telegram.org"
    # The console shows a person's phone number (or Telegram chat id) on their case, for
    # call-backs. Off unless the operator turns it on; each look is audited.
    desk_shows_address: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        team_hours = env.get("AMPARO_TEAM_HOURS") or cls.team_hours
        try:
            OpeningHours(team_hours)
        except Exception:  # the parser raises its own ParserError type
            raise ValueError(
                f"AMPARO_TEAM_HOURS is not opening_hours syntax: {team_hours!r}"
            ) from None
        team_timezone = env.get("AMPARO_TEAM_TIMEZONE") or cls.team_timezone
        try:
            ZoneInfo(team_timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"AMPARO_TEAM_TIMEZONE must be an IANA zone, not {team_timezone!r}"
            ) from None
        return cls(
            catalog=Path(env.get("AMPARO_CATALOG") or cls.catalog),
            nearby_km=_number(env, "AMPARO_NEARBY_KM", cls.nearby_km, 20_000),
            cases_db=env.get("AMPARO_CASES_DB") or cls.cases_db,
            tracker_db=env.get("AMPARO_TRACKER_DB") or cls.tracker_db,
            replay_after_seconds=_number(
                env, "AMPARO_REPLAY_AFTER_SECONDS", cls.replay_after_seconds, 3600
            ),
            retention_days=_number(
                env, "AMPARO_RETENTION_DAYS", cls.retention_days, 3650
            ),
            sharing_statement=(
                Path(env["AMPARO_SHARING_STATEMENT"])
                if env.get("AMPARO_SHARING_STATEMENT")
                else None
            ),
            team_hours=team_hours,
            team_timezone=team_timezone,
            handoff_wait_minutes=_number(
                env, "AMPARO_HANDOFF_WAIT_MINUTES", cls.handoff_wait_minutes, 24 * 60
            ),
            reopen_hours=_number(env, "AMPARO_REOPEN_HOURS", cls.reopen_hours, 24 * 90),
            callback_url=env.get("AMPARO_CALLBACK_URL", ""),
            public_url=env.get("AMPARO_PUBLIC_URL", "").rstrip("/"),
            id_key=env.get("AMPARO_ID_KEY", ""),
            data_keys=tuple(
                k.strip()
                for k in env.get("AMPARO_DATA_KEYS", "").split(",")
                if k.strip()
            ),
            twilio_account_sid=env.get("TWILIO_ACCOUNT_SID", ""),
            twilio_auth_token=env.get("TWILIO_AUTH_TOKEN", ""),
            twilio_sms_from=env.get("TWILIO_SMS_FROM", ""),
            twilio_whatsapp_from=env.get("TWILIO_WHATSAPP_FROM", ""),
            twilio_api_url=(env.get("TWILIO_API_URL") or cls.twilio_api_url).rstrip(
                "/"
            ),
            telegram_token=env.get("TELEGRAM_BOT_TOKEN", ""),
            telegram_secret=env.get("TELEGRAM_WEBHOOK_SECRET", ""),
            telegram_api_url=(
                env.get("TELEGRAM_API_URL") or cls.telegram_api_url
            ).rstrip("/"),
            desk_shows_address=_flag(env, "AMPARO_DESK_SHOWS_ADDRESS"),
        )


def _flag(env: Mapping[str, str], name: str) -> bool:
    text = env.get(name, "").strip().lower()
    if text not in ("", "0", "1", "true", "false", "yes", "no"):
        raise ValueError(f"{name} is 1 or 0, not {text!r}")
    return text in ("1", "true", "yes")


def _number(env: Mapping[str, str], name: str, default: float, most: float) -> float:
    text = env.get(name) or str(default)
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number, not {text!r}") from None
    if not 0 < value <= most:
        raise ValueError(f"{name} must be above 0 and at most {most:g}, not {text}")
    return value


@cache
def settings() -> Settings:
    return Settings.from_env()
