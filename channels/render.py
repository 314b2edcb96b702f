"""How a reply looks on each phone channel (no Rasa here: the desk uses it too).

SMS and WhatsApp have no buttons: choices become a numbered list and a number reply
means that choice (the turn's :class:`Menu` is kept per conversation, amparo.contacts).
Telegram keeps real buttons. SMS is billed per segment: typographic characters and
emoji that would force UCS-2 (70 characters a segment instead of 160) are replaced or
dropped; accented letters stay, since dropping them changes words.
"""

from __future__ import annotations

import re
import secrets
import unicodedata

from amparo.contacts import Offered
from amparo.responses import responses

PIN_PAYLOAD = "/share_location"
# Twilio refuses a body over 1,600 characters; Telegram over 4,096.
TWILIO_LIMIT = 1600
TELEGRAM_LIMIT = 4096
# Telegram's callback_data holds at most 64 bytes.
CALLBACK_BYTES = 64

GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENDED = set("^{}\\[~]|€\f")
TYPOGRAPHIC = str.maketrans(
    {
        "‘": "'",
        "’": "'",
        "“": '"',
        "”": '"',
        "«": '"',
        "»": '"',
        "–": "-",
        "—": "-",
        "…": "...",
        "•": "-",
        "·": "-",
        "\u00a0": " ",
    }
)
_SPACES = re.compile(r"[ \t]+")
_NUMBER = re.compile(r"^\s*(\d{1,2})\s*[.)]?\s*$")
_KEYED = re.compile(r"^#([0-9a-f]{6}):(\d{1,2})$")


def sms_text(text: str) -> str:
    """The text as an SMS: GSM-friendly punctuation, no emoji or pictographs."""
    text = unicodedata.normalize("NFC", text).translate(TYPOGRAPHIC)
    kept = "".join(
        ch
        for ch in text
        if unicodedata.category(ch) not in ("So", "Sk", "Cs", "Co") or ch in GSM_BASIC
    )
    kept = kept.replace("\u200d", "").replace("\ufe0f", "")
    lines = [_SPACES.sub(" ", line).strip() for line in kept.split("\n")]
    return "\n".join(lines).strip()


def segments(text: str) -> int:
    """How many SMS segments the text costs (GSM-7: 160, or 153 each when split;
    UCS-2, as soon as one character is outside GSM-7: 70, or 67 each)."""
    if all(ch in GSM_BASIC or ch in GSM_EXTENDED for ch in text):
        units = sum(2 if ch in GSM_EXTENDED else 1 for ch in text)
        single, each = 160, 153
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, each = 70, 67
    if units <= single:
        return 1
    return -(-units // each)


def split(text: str, limit: int) -> list[str]:
    """Pieces of at most ``limit`` characters, cut between paragraphs, lines,
    sentences or words, in that order of preference."""
    text = text.strip()
    pieces = []
    while len(text) > limit:
        window = text[: limit + 1]
        cut = max(
            (window.rfind(mark) for mark in ("\n\n", "\n", ". ", " ")),
            default=-1,
        )
        if cut <= limit // 2:
            cut = limit
        pieces.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        pieces.append(text)
    return pieces


def number_reply(text: str) -> int | None:
    """1-based choice when the message is only a number ("2", "2.", " 2) ")."""
    found = _NUMBER.match(text or "")
    return int(found.group(1)) if found else None


def is_choice(text: str) -> bool:
    """Whether the message may stand for a choice: a number, or a Telegram button's
    numbered callback ("#<menu tag>:3")."""
    return number_reply(text) is not None or bool(_KEYED.match(text or ""))


class Menu:
    """The choices offered in one turn, numbered across its messages (1, 2, 3 in the
    first, 4, 5 in the next), so every number the person may reply means one thing."""

    def __init__(self, *, has_buttons: bool = False) -> None:
        # Telegram shows real buttons: there only they pick, not a typed number.
        self.has_buttons = has_buttons
        self.payloads: list[str] = []
        self.tag = secrets.token_hex(3)

    def offered(self) -> Offered:
        return Offered(self.tag, tuple(self.payloads))

    def show(self, text: str, buttons: list[dict]) -> tuple[str, list | None]:
        """The text and the buttons as this channel shows them: keyed buttons, or
        none and the choices numbered in the text."""
        if self.has_buttons:
            return text, self.keyed(buttons)
        return self.numbered(text, buttons), None

    def numbered(self, text: str, buttons: list[dict]) -> str:
        """The text with its choices as a numbered list and how to choose. A location
        request is left out: the text already says how to share one."""
        lines = []
        for title, payload in _choices(buttons):
            if payload.startswith(PIN_PAYLOAD):
                continue
            self.payloads.append(payload)
            lines.append(f"{len(self.payloads)} - {title}")
        if not lines:
            return text
        language = responses().language_of(text) or "es"
        hint = responses().text("utter_choose_by_number", language)
        return "\n".join([text, "", *lines, "", hint])

    def keyed(self, buttons: list[dict]) -> list[tuple[str, str]]:
        """(title, callback data) per button for Telegram: the payload itself when it
        fits in 64 bytes, else its number in this menu ("#<tag>:3")."""
        keyed = []
        for title, payload in _choices(buttons):
            if payload.startswith(PIN_PAYLOAD):
                keyed.append((title, PIN_PAYLOAD))
                continue
            self.payloads.append(payload)
            fits = len(payload.encode()) <= CALLBACK_BYTES
            number = f"#{self.tag}:{len(self.payloads)}"
            keyed.append((title, payload if fits else number))
        return keyed


def _choices(buttons: list[dict]) -> list[tuple[str, str]]:
    """(title, payload) of each button that has either."""
    pairs = []
    for button in buttons:
        payload = str(button.get("payload") or button.get("title") or "")
        if payload:
            pairs.append((str(button.get("title") or payload), payload))
    return pairs


def choice(text: str, offered: Offered, *, typed: bool = True) -> str:
    """The payload a choice stands for, or the text as it was. ``typed``: a number
    written by the person counts (channels without buttons); a numbered button only
    counts for the menu it came with."""
    keyed = _KEYED.match(text or "")
    if keyed:
        number = int(keyed.group(2)) if keyed.group(1) == offered.tag else None
    else:
        number = number_reply(text) if typed else None
    if number is not None and 1 <= number <= len(offered.payloads):
        return offered.payloads[number - 1]
    return text
