"""Encryption at rest with the data keys (AMPARO_DATA_KEYS, Fernet from the
`cryptography` package): the first key encrypts, every key decrypts, so keys are
rotated by putting a new one first, restarting, running
``python -m amparo.privacy rotate-keys`` and then dropping the old one.

What the person and the team write in a case, and the team's notes, are stored as
:class:`SealedText`; the phone channels' addresses are sealed by amparo.contacts.
"""

from __future__ import annotations

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Text
from sqlalchemy.types import TypeDecorator

from amparo.settings import settings

# Every Fernet token starts so (version byte 0x80, base64): anything else in a sealed
# column is text written before encryption at rest, sealed by the next rotate-keys.
TOKEN_PREFIX = "gAAAAA"
UNREADABLE = "[encrypted with a key that is no longer configured]"


def cipher(data_keys: tuple[str, ...]) -> MultiFernet:
    """The keys, checked: ValueError saying what is wrong."""
    if not data_keys:
        raise ValueError("AMPARO_DATA_KEYS is empty (make keys prints a key)")
    try:
        return MultiFernet([Fernet(key.encode()) for key in data_keys])
    except ValueError:
        raise ValueError(
            "AMPARO_DATA_KEYS must be Fernet keys, comma-separated "
            "(make keys prints one)"
        ) from None


@cache
def ciphers() -> tuple[MultiFernet, Fernet]:
    """All the configured keys, and the current (first) one alone."""
    keys = settings().data_keys
    return cipher(keys), Fernet(keys[0].encode())


def data_cipher() -> MultiFernet:
    return ciphers()[0]


def is_sealed(value: str) -> bool:
    return value.startswith(TOKEN_PREFIX)


def seal(text: str) -> str:
    return data_cipher().encrypt(text.encode()).decode()


def unseal(value: str) -> str:
    """The text of a stored value; text stored before encryption is returned as it is,
    and one no configured key opens says so instead of failing the whole page."""
    if not is_sealed(value):
        return value
    try:
        return data_cipher().decrypt(value.encode()).decode()
    except InvalidToken:
        return UNREADABLE


def reseal(value: str) -> str:
    """The value sealed with the current key: itself when it is already, plain text
    sealed; InvalidToken when no configured key opens it."""
    if not is_sealed(value):
        return seal(value)
    try:
        ciphers()[1].decrypt(value.encode())
        return value
    except InvalidToken:
        return data_cipher().rotate(value.encode()).decode()


class SealedText(TypeDecorator):
    """A text column stored encrypted; the application reads and writes plain text."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else seal(value)

    def process_result_value(self, value, dialect):
        return None if value is None else unseal(value)
