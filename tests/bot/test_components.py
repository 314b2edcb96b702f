from pathlib import Path

import pytest
import yaml
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.components.guard import InputGuard
from bot.components.language import LANGUAGE_GUESS, LanguageIdentification

CONFIG = Path(__file__).resolve().parents[2] / "config.yml"


@pytest.fixture(scope="module")
def identification() -> LanguageIdentification:
    """Configured exactly as in config.yml, foreign languages included."""
    pipeline = yaml.safe_load(CONFIG.read_text())["pipeline"]
    config = next(c for c in pipeline if c["name"].endswith("LanguageIdentification"))
    return LanguageIdentification({k: v for k, v in config.items() if k != "name"})


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


def test_a_button_payload_is_no_evidence_but_keeps_the_channel_hint(identification):
    message = classified('/find_service{"service_type": "shelter"}', "find_service")
    identification.process([message])
    guess = message.get(LANGUAGE_GUESS)
    assert guess["word_count"] == 0 and guess["hint"] is None
    assert len(set(guess["scores"].values())) == 1  # no language favoured
    start = classified("/greet", metadata={"language_code": "pt-BR"})  # Telegram
    identification.process([start])
    assert start.get(LANGUAGE_GUESS)["hint"] == "pt"


@pytest.mark.parametrize("text", ["", "   ", "😀🙏", "?!?!", "x" * 10_000])
def test_guard_marks_what_nobody_can_read(identification, text):
    message = classified(text)
    InputGuard({}).process(identification.process([message]))
    assert message.get(INTENT) == {"name": "unreadable", "confidence": 1.0}


@pytest.mark.parametrize("read_as", ["find_service", "disclose_child_at_risk"])
def test_guard_marks_a_language_we_do_not_answer_in(identification, read_as):
    """Whatever the model makes of French, even a disclosure, is noise."""
    message = classified("bonjour je cherche un abri pour ce soir", read_as)
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


@pytest.mark.parametrize(
    "text", ["mi esposo me pega", "me estan siguiendo", "meu marido me bate"]
)
def test_our_languages_are_never_called_foreign(identification, text):
    message = classified(text, "emergency")
    InputGuard({}).process(identification.process([message]))
    assert message.get(INTENT)["name"] == "emergency"
    assert message.get(LANGUAGE_GUESS)["foreign"] is None


def test_guard_never_overrides_a_danger_reading(identification):
    message = classified("au secours aidez moi", "emergency")
    InputGuard({}).process(identification.process([message]))
    assert message.get(LANGUAGE_GUESS)["foreign"] == "fr"
    assert message.get(INTENT)["name"] == "emergency"


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("ayuda me estan siguiendo y necesito un albergue", "emergency"),
        ("me violaron y necesito un medico", "disclose_violence"),
        ("i want to die, is there a shelter", "disclose_self_harm"),
    ],
)
def test_a_disclosure_cue_wins_over_a_request(identification, text, intent):
    message = classified(text, "find_service")
    InputGuard({}).process(identification.process([message]))
    assert message.get(INTENT)["name"] == intent


def test_the_model_reading_of_a_disclosure_is_kept(identification):
    # The model says trafficking; a danger cue in the same message does not replace a
    # disclosure the model already caught.
    message = classified("me quieren matar si no pago la deuda", "disclose_trafficking")
    InputGuard({}).process(identification.process([message]))
    assert message.get(INTENT)["name"] == "disclose_trafficking"


@pytest.mark.parametrize(
    ("text", "read_as"),
    [
        ("necesito ayuda porfa", "ask_help"),
        ("preciso de ajuda por favor", "ask_help"),
        ("quiero hablar con una persona", "request_human"),
        ("can someone call me", "request_human"),
    ],
)
def test_only_a_request_that_names_a_person_opens_a_case(identification, text, read_as):
    message = classified(text, "request_human")
    InputGuard({}).process(identification.process([message]))
    assert message.get(INTENT)["name"] == read_as


@pytest.mark.parametrize(
    ("text", "read_as", "becomes"),
    [
        ("estoy en narnia", "deny", "inform_place"),
        ("ando por villa xyz", "later", "inform_place"),
        ("i'm in qwerton", "deny", "inform_place"),
        ("estou em narnia", "deny", "inform_place"),
        ("no, estoy en casa", "deny", "deny"),
        ("mas tarde, estoy en el trabajo", "later", "later"),
        ("no gracias", "deny", "deny"),
        ("estoy en tapachula", "find_service", "find_service"),
    ],
)
def test_a_place_the_model_never_saw_is_not_a_refusal(
    identification, text, read_as, becomes
):
    message = classified(text, read_as)
    InputGuard({}).process(identification.process([message]))
    assert message.get(INTENT)["name"] == becomes
