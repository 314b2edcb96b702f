import pytest

from channels.rest import MAX_MESSAGE_CHARS, parse_request


def test_a_good_request():
    sender, text, metadata = parse_request(
        {
            "sender": "abc-123_XYZ",
            "message": "hola",
            "metadata": {"language_code": "es-CO"},
        }
    )
    assert (sender, text, metadata) == (
        "abc-123_XYZ",
        "hola",
        {"language_code": "es-CO"},
    )


def test_only_known_metadata_is_kept():
    _, _, metadata = parse_request(
        {
            "sender": "abcdefgh",
            "message": "hi",
            "metadata": {"language_code": "en", "phone": "+5215512345678", "x": 1},
        }
    )
    assert metadata == {"language_code": "en"}


def test_an_empty_message_is_passed_on_for_a_kind_reply():
    assert parse_request({"sender": "abcdefgh"})[1] == ""


def test_a_huge_message_is_cut_not_refused():
    assert len(parse_request({"sender": "abcdefgh", "message": "a" * 50_000})[1]) == (
        MAX_MESSAGE_CHARS
    )


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        "hola",
        {"message": "hola"},
        {"sender": "short", "message": "hola"},
        {"sender": "../../etc/passwd", "message": "hola"},
        {"sender": "a" * 65, "message": "hola"},
        {"sender": "abcdefgh", "message": 42},
        {"sender": "abcdefgh", "message": {"text": "hola"}},
    ],
)
def test_malformed_requests_are_refused_with_a_reason(body):
    with pytest.raises(ValueError):
        parse_request(body)


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        (
            '/share_location{"location": "14.9061234,-92.2634567"}',
            '/share_location{"location": "14.91,-92.26"}',
        ),
        ('/share_location{"location": "999,999"}', "/share_location"),
        ('/share_location{"location": ["a"]}', "/share_location"),
        ("/share_location{not json", "/share_location"),
        ('/share_location["x"]', "/share_location"),
        ("hola /share_location", "hola /share_location"),
    ],
)
def test_a_location_pin_is_rounded_before_it_reaches_the_bot(sent, kept):
    _, text, _ = parse_request({"sender": "abcdefgh", "message": sent})
    assert text == kept


def test_the_callback_channel_refuses_to_start_without_its_url(monkeypatch):
    from amparo.settings import settings
    from channels.callback import CallbackInput

    monkeypatch.delenv("AMPARO_CALLBACK_URL", raising=False)
    settings.cache_clear()
    with pytest.raises(ValueError, match="AMPARO_CALLBACK_URL"):
        CallbackInput.from_credentials(None)
    monkeypatch.setenv("AMPARO_CALLBACK_URL", "http://127.0.0.1:9/inbox")
    settings.cache_clear()
    assert CallbackInput.from_credentials(None).name() == "callback"
