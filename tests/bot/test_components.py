from pathlib import Path

import pytest
import yaml
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from amparo import language
from amparo.cues import CATEGORIES, lexicon, requests_person
from amparo.services import service_types
from bot.components.disclosure import DISCLOSURE, DisclosureClassifier
from bot.components.guard import LEANING, InputGuard
from bot.components.language import LANGUAGE_GUESS, LanguageIdentification

CONFIG = Path(__file__).resolve().parents[2] / "config.yml"


@pytest.fixture(scope="module")
def identification() -> LanguageIdentification:
    """Configured exactly as in config.yml, foreign languages included."""
    pipeline = yaml.safe_load(CONFIG.read_text())["pipeline"]
    config = next(c for c in pipeline if c["name"].endswith("LanguageIdentification"))
    return LanguageIdentification({k: v for k, v in config.items() if k != "name"})


def classified(
    text: str, intent: str = "greet", metadata=None, disclosure=None
) -> Message:
    """A message as the pipeline leaves it before the guard: some intent, always,
    and the disclosure classifier's reading."""
    message = Message(data={TEXT: text, "metadata": metadata or {}})
    message.set(INTENT, {"name": intent, "confidence": 0.97})
    message.set(INTENT_RANKING_KEY, [{"name": intent, "confidence": 0.97}])
    message.set(DISCLOSURE, disclosure)
    return message


def guarded(identification, text: str, read_as: str, disclosure=None) -> str:
    """The intent the guard leaves when the intent model read ``text`` as
    ``read_as`` and the disclosure classifier as ``disclosure``."""
    message = classified(text, read_as, disclosure=disclosure)
    InputGuard({}).process(identification.process([message]))
    return message.get(INTENT)["name"]


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
    assert guarded(identification, "/request_human", "request_human") == "request_human"


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
    assert guarded(identification, text, "find_service") == intent


def test_a_danger_cue_wins_over_another_disclosure(identification):
    # The model says trafficking; "me quieren matar" is danger: numbers first, urgent.
    assert (
        guarded(
            identification,
            "me quieren matar si no pago la deuda",
            "disclose_trafficking",
        )
        == "emergency"
    )


@pytest.mark.parametrize(
    ("text", "read_as"),
    [
        ("necesito ayuda porfa", "ask_help"),
        ("preciso de ajuda por favor", "ask_help"),
        ("quiero hablar con una persona", "request_human"),
        ("can someone call me", "request_human"),
        ("que es la trata de personas?", "ask_help"),
        ("where can i learn about human trafficking", "ask_help"),
    ],
)
def test_only_a_request_that_names_a_person_opens_a_case(identification, text, read_as):
    assert guarded(identification, text, "request_human") == read_as


@pytest.mark.parametrize(
    ("text", "read_as"),
    [
        ("eres una maquina? quiero una persona", "bot_challenge"),
        ("is this a robot? i need someone real", "bot_challenge"),
        ("tem alguem de verdade ai?", "bot_challenge"),
        ("da pra falar com alguem de carne e osso kkk", "out_of_scope"),
        ("no entiendo nada, quiero hablar con alguien", "nlu_fallback"),
        (
            "queria conversar com alguem do escritorio sobre meu processo",
            "find_service",
        ),
        ("quiero hablar con alguien en español", "choose_language"),
        ("can i talk to a real person? english or spanish", "choose_language"),
    ],
)
def test_a_request_for_a_person_in_so_many_words_opens_a_case(
    identification, text, read_as
):
    assert guarded(identification, text, read_as) == "request_human"


@pytest.mark.parametrize("answer", ["affirm", "deny", "later", "goodbye", "thank"])
def test_an_answer_stays_an_answer_whatever_its_words(identification, answer):
    # "do you want to talk to a person?" is answered in the words of the question.
    assert guarded(identification, "quiero hablar con una persona", answer) == answer


@pytest.mark.parametrize(
    ("text", "read_as"),
    [
        ("no quiero hablar con una persona", "out_of_scope"),
        ("i don't want to talk to someone", "out_of_scope"),
        ("i don’t want to speak to a person", "nlu_fallback"),
        ("no me interesa hablar con una persona", "out_of_scope"),
        ("nao posso falar com alguem agora", "out_of_scope"),
        ("quiero hablar con alguien de mi familia", "out_of_scope"),
        ("connect me to wifi", "out_of_scope"),
        ("quero me transferir pra outro abrigo", "out_of_scope"),
        ("me passa pra mim o endereco", "nlu_fallback"),
        ("are you a robot?", "bot_challenge"),
        ("english please", "choose_language"),
        ("prefiro falar em portugues", "choose_language"),
    ],
)
def test_a_refusal_or_a_question_is_no_request_for_a_person(
    identification, text, read_as
):
    assert guarded(identification, text, read_as) == read_as


def test_a_request_that_names_a_service_is_a_search(identification):
    text = "quiero hablar con una persona del albergue en tapachula"
    message = classified(text, "find_service")
    shelter = {"entity": "service_type", "value": "shelter", "start": 33, "end": 41}
    message.set(ENTITIES, [shelter])
    InputGuard({}).process(identification.process([message]))
    assert message.get(INTENT)["name"] == "find_service"
    # Untagged, its words still name the shelter; unsure, a search for it.
    assert guarded(identification, text, "find_service") == "find_service"
    assert guarded(identification, text, "nlu_fallback") == "find_service"


def test_a_request_the_model_read_as_a_disclosure_keeps_its_leaning(identification):
    # Unsupported, the disclosure reading is "not understood", whose reply offers a
    # person and whose ranking tells the case what it was about.
    text = "necesito hablar con alguien de lo que paso en el trabajo"
    message = classified(text, "disclose_trafficking")
    InputGuard({}).process(identification.process([message]))
    assert message.get(INTENT)["name"] == "nlu_fallback"
    ranking = [r["name"] for r in message.get(INTENT_RANKING_KEY)]
    assert ranking[1] == "disclose_trafficking"


def test_a_request_in_a_language_we_do_not_read_is_not_a_case(identification):
    # French with an English request phrase in it: the reply says which languages
    # we speak rather than opening a case nobody here can read.
    text = (
        "bonjour, est-ce que je peux parler avec quelqu'un de vrai? someone real, merci"
    )
    assert requests_person(text)
    assert guarded(identification, text, "out_of_scope") == "unsupported_language"


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
    assert guarded(identification, text, read_as) == becomes


def test_a_search_the_model_did_not_tag_gets_the_service_its_words_name(
    identification,
):
    # a trained intent model read "y comida?" as a search with no service tagged
    message = classified("y comida?", "find_service")
    InputGuard({}).process(identification.process([message]))
    assert message.get(INTENT)["name"] == "find_service"
    assert [(e["entity"], e["value"]) for e in message.get("entities")] == [
        ("service_type", "food")
    ]
    junk = classified("y comida?", "find_service")
    junk.set("entities", [{"entity": "service_type", "value": "y"}])
    InputGuard({}).process(identification.process([junk]))
    assert [e["value"] for e in junk.get("entities")] == ["food"]
    tagged = classified("necesito comida en tapachula", "find_service")
    tagged.set("entities", [{"entity": "service_type", "value": "shelter"}])
    InputGuard({}).process(identification.process([tagged]))
    assert [e["value"] for e in tagged.get("entities")] == ["shelter"]  # the model's


@pytest.mark.parametrize(
    ("text", "service"),
    [
        ("where can i make a video call", "connectivity"),
        ("donde hay wifi", "connectivity"),
        ("i lost my son, who can help me find him", "family_tracing"),
        ("quero ligar pra minha familia", "family_tracing"),
    ],
)
def test_a_search_gets_the_service_its_words_name(identification, text, service):
    message = classified(text, "find_service")
    InputGuard({}).process(identification.process([message]))
    assert [e["value"] for e in message.get("entities") or []] == [service]


@pytest.mark.parametrize(
    "text",
    [
        "can someone call me? where can i go",
        "en ese caso donde voy",
        "i lost my phone, where do i go",
        "alguem pode me ligar? onde eu vou",
    ],
)
def test_a_search_whose_words_name_no_service_gets_none(identification, text):
    message = classified(text, "find_service")
    InputGuard({}).process(identification.process([message]))
    assert message.get(INTENT)["name"] == "find_service"
    assert not [
        e for e in message.get("entities") or [] if e["entity"] == "service_type"
    ]


@pytest.mark.parametrize(
    ("text", "read_as", "becomes"),
    [
        ("BORRAR", "greet", "delete_data"),
        ("Delete.", "nlu_fallback", "delete_data"),
        ("apagar tudo", "goodbye", "delete_data"),
        ("SALIR", "goodbye", "quick_exit"),
        ("exit!", "out_of_scope", "quick_exit"),
        ("Sair", "greet", "quick_exit"),
        # a sentence with the word is whatever it says
        ("como borrar el historial del navegador", "out_of_scope", "out_of_scope"),
    ],
)
def test_the_words_the_notice_teaches_always_work(
    identification, text, read_as, becomes
):
    assert guarded(identification, text, read_as) == becomes


def test_a_sentence_with_a_command_word_is_whatever_it_says(identification):
    text = "no me dejan salir de la casa"
    read = guarded(identification, text, "disclose_trafficking", "trafficking")
    assert read == "disclose_trafficking"
    # the intent model alone: not understood, still not the command "salir"
    assert guarded(identification, text, "disclose_trafficking") == "nlu_fallback"


@pytest.mark.parametrize(
    ("text", "read_as", "becomes"),
    [
        # the cue decides the category (and so the team)
        (
            "mi pareja me pega y tengo miedo",
            "disclose_child_at_risk",
            "disclose_violence",
        ),
        (
            "mi padrastro me pega y me toca",
            "disclose_violence",
            "disclose_child_at_risk",
        ),
        # a reading of danger or self-harm stands: the numbers come first
        ("mi pareja me pega y tengo miedo", "emergency", "emergency"),
        ("mi esposo me pega", "disclose_self_harm", "disclose_self_harm"),
    ],
)
def test_a_cue_decides_the_category_of_a_disclosure(
    identification, text, read_as, becomes
):
    assert guarded(identification, text, read_as) == becomes


@pytest.mark.parametrize(
    "leaning",
    [
        ("affirm", 0.35),
        # A trained intent model's reading after a search: no disclosure it was
        # sure enough of to lean to (nothing above 0.17).
        ("disclose_trafficking", 0.171),
    ],
)
def test_an_unsure_reading_that_names_a_service_is_a_search(identification, leaning):
    message = classified("y comida?", "nlu_fallback")
    name, confidence = leaning
    message.set(
        INTENT_RANKING_KEY,
        [
            {"name": "nlu_fallback", "confidence": 0.4},
            {"name": name, "confidence": confidence},
            {"name": "thank", "confidence": 0.141},
        ],
    )
    InputGuard({}).process(identification.process([message]))
    assert message.get(INTENT)["name"] == "find_service"
    assert [(e["entity"], e["value"]) for e in message.get("entities")] == [
        ("service_type", "food")
    ]


def test_leaning_is_as_sure_as_the_fallback_classifier_asks():
    pipeline = yaml.safe_load(CONFIG.read_text())["pipeline"]
    fallback = next(c for c in pipeline if c["name"] == "FallbackClassifier")
    assert fallback["threshold"] == LEANING


def test_an_answer_to_where_keeps_only_the_services_we_know(identification):
    # "lucas" of "san lucas toliman" tagged as a service would ask for one again.
    message = classified("san lucas toliman", "inform_place")
    tags = [("place", "san"), ("service_type", "lucas"), ("place", "toliman")]
    message.set(ENTITIES, [{"entity": e, "value": v} for e, v in tags])
    InputGuard({}).process(identification.process([message]))
    assert message.get(INTENT)["name"] == "inform_place"
    assert [(e["entity"], e["value"]) for e in message.get(ENTITIES)] == [
        ("place", "san"),
        ("place", "toliman"),
    ]
    # A service it names is kept: "estoy en tapachula y busco albergue" answers both.
    message = classified("estoy en tapachula y busco albergue", "inform_place")
    tags = [("place", "tapachula"), ("service_type", "albergue")]
    message.set(ENTITIES, [{"entity": e, "value": v} for e, v in tags])
    InputGuard({}).process(identification.process([message]))
    assert message.get(INTENT)["name"] == "inform_place"
    assert [e["entity"] for e in message.get(ENTITIES)] == ["place", "service_type"]


def test_an_unsure_reading_leaning_to_a_disclosure_is_not_a_search(identification):
    message = classified("ese hombre del albergue no me deja", "nlu_fallback")
    message.set(
        INTENT_RANKING_KEY,
        [
            {"name": "nlu_fallback", "confidence": 0.4},
            {"name": "disclose_violence", "confidence": 0.52},
            {"name": "find_service", "confidence": 0.47},
        ],
    )
    InputGuard({}).process(identification.process([message]))
    assert message.get(INTENT)["name"] == "nlu_fallback"


@pytest.mark.parametrize(
    "text",
    ["un señor me tocó en el albergue", "a man touched me", "um homem me tocou"],
)
def test_a_man_touching_is_a_disclosure_whatever_the_model_says(identification, text):
    assert guarded(identification, text, "nlu_fallback") == "disclose_violence"


@pytest.mark.parametrize(
    ("text", "read_as", "disclosure", "becomes"),
    [
        # the classifier sees what the intent model missed
        (
            "el señor del cuarto dice q la renta se paga de otra forma",
            "find_service",
            "violence",
            "disclose_violence",
        ),
        (
            "ya deje todo arreglado por si no estoy",
            "thank",
            "self_harm",
            "disclose_self_harm",
        ),
        # the cue lexicon's category comes before the classifier's
        ("mi pareja me pega", "find_service", "child_at_risk", "disclose_violence"),
        # the intent model's danger or self-harm stands on its own: numbers first
        ("hay unos tipos afuera esperandome", "emergency", None, "emergency"),
        ("i could just disappear", "disclose_self_harm", None, "disclose_self_harm"),
    ],
)
def test_the_classifier_and_the_lexicon_decide_disclosures(
    identification, text, read_as, disclosure, becomes
):
    assert guarded(identification, text, read_as, disclosure) == becomes


def test_a_disclosure_only_the_intent_model_sees_is_unsure(identification):
    """ "my daughter lost her first tooth": the intent model says child at risk, the
    classifier and the lexicon do not; the bot says it did not understand (with the
    offer of a person) instead of believing a disclosure."""
    message = classified("my daughter lost her first tooth today lol", "greet")
    message.set(
        INTENT_RANKING_KEY,
        [
            {"name": "disclose_child_at_risk", "confidence": 0.9},
            {"name": "out_of_scope", "confidence": 0.06},
            {"name": "disclose_violence", "confidence": 0.04},
        ],
    )
    message.set(INTENT, {"name": "disclose_child_at_risk", "confidence": 0.9})
    InputGuard({}).process(identification.process([message]))
    assert message.get(INTENT)["name"] == "nlu_fallback"
    ranking = [r["name"] for r in message.get(INTENT_RANKING_KEY)]
    # as Rasa's FallbackClassifier leaves it: what the model leaned to stays visible
    assert ranking == [
        "nlu_fallback",
        "disclose_child_at_risk",
        "out_of_scope",
        "disclose_violence",
    ]


@pytest.mark.parametrize(
    "text",
    [
        "estoy en maicao y el patron me tiene trabajando sin paga",
        "i am in cucuta and my stepdad is always at my little sister",
        "o vizinho nao me deixa em paz, estou em manaus",
    ],
)
def test_a_disclosure_only_the_intent_model_sees_is_no_place(identification, text):
    """Not understood, whose reply offers a person: never "where are you?" answered
    on words that may be a disclosure."""
    assert guarded(identification, text, "disclose_trafficking") == "nlu_fallback"
    assert guarded(identification, text, "disclose_child_at_risk") == "nlu_fallback"


def test_the_classifier_is_not_heard_on_a_language_we_do_not_read(identification):
    assert (
        guarded(
            identification,
            "bonjour je cherche un abri pour ce soir",
            "find_service",
            "trafficking",
        )
        == "unsupported_language"
    )


TRAINING = [
    ("mi pareja me pega", "disclose_violence"),
    ("mi esposo me golpea", "disclose_violence"),
    ("me estan siguiendo", "emergency"),
    ("me quieren matar", "emergency"),
    ("donde hay un albergue", "find_service"),
    ("necesito comida", "find_service"),
    ("hola", "greet"),
    ("gracias", "thank"),
]


def test_the_disclosure_classifier_is_trained_saved_and_loaded(tmp_path):
    storage = LocalModelStorage(tmp_path)
    resource = Resource("disclosure")
    context = ExecutionContext(GraphSchema({}), "test")
    config = DisclosureClassifier.get_default_config()
    data = TrainingData(
        [Message(data={TEXT: text, INTENT: intent}) for text, intent in TRAINING]
    )
    trained = DisclosureClassifier.create(config, storage, resource, context)
    assert trained.train(data) == resource

    loaded = DisclosureClassifier.load(config, storage, resource, context)
    texts = ["MI PAREJA ME PEGA", "me estan siguiendo", "necesito comida", "/greet"]
    messages = loaded.process([Message(data={TEXT: text}) for text in texts])
    assert [m.get(DISCLOSURE) for m in messages] == ["violence", "danger", None, None]
    assert DISCLOSURE in messages[0].as_dict(only_output_properties=True)
    assert DISCLOSURE not in messages[3].data  # a button is not the person's words

    # The configured lean is read at load time: a large one reads every worded
    # message as some disclosure.
    leaning = DisclosureClassifier.load(
        {**config, "lean": 100.0}, storage, resource, context
    )
    [message] = leaning.process([Message(data={TEXT: "necesito comida"})])
    assert message.get(DISCLOSURE) in CATEGORIES


def test_a_model_without_its_disclosure_classifier_does_not_load(tmp_path):
    """Better no bot than a bot that silently stopped noticing disclosures."""
    storage = LocalModelStorage(tmp_path)
    context = ExecutionContext(GraphSchema({}), "test")
    with pytest.raises(ValueError):
        DisclosureClassifier.load({}, storage, Resource("missing"), context)


def test_an_unsupported_disclosure_that_names_a_service_is_a_search(identification):
    # a trained intent model read "y comida?" as trafficking at 0.995
    assert (
        guarded(identification, "y comida?", "disclose_trafficking") == "find_service"
    )


def test_the_guard_reads_its_word_lists_with_the_model_not_on_a_message():
    for loader in (lexicon, language._profiles, service_types):
        loader.cache_clear()
    InputGuard({})
    for loader in (lexicon, language._profiles, service_types):
        assert loader.cache_info().currsize == 1, loader


def test_a_message_no_model_read_passes_the_guard(identification):
    message = Message(data={TEXT: "san lucas toliman", INTENT: None})
    InputGuard({}).process(identification.process([message]))
    assert message.get(INTENT) is None
