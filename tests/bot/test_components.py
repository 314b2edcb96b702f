import pytest
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.components.guard import InputGuard
from bot.components.language import LANGUAGE_GUESS, LanguageIdentification


@pytest.fixture(scope="module")
def identification() -> LanguageIdentification:
    return LanguageIdentification(
        {"languages": ["es", "en", "pt"], "foreign": ["fr", "de"]}
    )


def classified(text: str, intent: str = "greet", metadata=None) -> Message:
    """A message as the pipeline leaves it before the guard: some intent, always."""
    message = Message(data={TEXT: text, "metadata": metadata or {}})
    message.set(INTENT, {"name": intent, "confidence": 0.97})
    message.set(INTENT_RANKING_KEY, [{"name": intent, "confidence": 0.97}])
    return message


def test_identification_adds_the_evidence_to_the_output(identification):
    message = classified("oi tudo bem", metadata={"language_code": "pt-BR"})
    identification.process([message])
    guess = message.get(LANGUAGE_GUESS)
    assert max(guess["scores"], key=guess["scores"].get) == "pt"
    assert guess["hint"] == "pt"
    assert LANGUAGE_GUESS in message.as_dict(only_output_properties=True)


def test_identification_leaves_button_payloads_alone(identification):
    message = classified('/find_service{"service_type": "shelter"}', "find_service")
    identification.process([message])
    assert message.get(LANGUAGE_GUESS) is None


@pytest.mark.parametrize("text", ["", "   ", "😀🙏", "?!?!", "x" * 10_000])
def test_guard_marks_what_nobody_can_read(identification, text):
    message = classified(text)
    InputGuard({}).process(identification.process([message]))
    assert message.get(INTENT) == {"name": "unreadable", "confidence": 1.0}


def test_guard_marks_a_language_we_do_not_answer_in(identification):
    message = classified("bonjour je cherche un abri pour ce soir", "find_service")
    InputGuard({}).process(identification.process([message]))
    assert message.get(INTENT)["name"] == "unsupported_language"
    assert message.get("entities") == []


@pytest.mark.parametrize(
    "text", ["hola", "\x00\x01hola\x07", "ok", "k", "donde hay comida"]
)
def test_guard_leaves_readable_messages_alone(identification, text):
    message = classified(text)
    InputGuard({}).process(identification.process([message]))
    assert message.get(INTENT)["name"] == "greet"


def test_guard_leaves_button_payloads_alone(identification):
    message = classified("/request_human", "request_human")
    InputGuard({}).process(identification.process([message]))
    assert message.get(INTENT)["name"] == "request_human"
