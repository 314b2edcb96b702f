import pytest

from amparo.cues import (
    CATEGORIES,
    PERSON,
    PERSON_IDIOM,
    PERSON_NEGATION,
    PERSON_OTHER,
    PERSON_REQUEST,
    asks_for_person,
    disclosure_in,
    lexicon,
    requests_person,
)


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("ayuda me estan siguiendo y necesito un albergue", "danger"),
        ("Me están siguiendo!!", "danger"),
        ("ya no quiero vivir", "self_harm"),
        # Someone else's attempt, a relapse, sex demanded for rent.
        ("mi prima intento suicidarse en el albergue", "self_harm"),
        ("my roommate tried to hang himself last week", "self_harm"),
        ("voltei a me cortar essa semana", "self_harm"),
        ("the owner says i can pay with my body", "violence"),
        ("el dueño dice q puedo pagar el cuarto con mi cuerpo", "violence"),
        ("mi esposo me pega", "violence"),
        ("someone is following me, i need a shelter", "danger"),
        ("I want to die", "self_harm"),
        ("tem alguem me seguindo", "danger"),
        ("quero morrer", "self_harm"),
        ("fui estuprada no caminho", "violence"),
        # An armed group's ultimatum: leave, or pay.
        ("os traficante deram 24h pra gente sair da comunidade", "danger"),
        ("a facçao mandou eu sair do bairro ate amanha", "danger"),
        ("la mara nos dio hasta el lunes, si no nos vamos nos matan", "danger"),
        ("gang say pay by friday or else", "danger"),
        ("they gave us 24 hours to leave the house", "danger"),
        # Sex or nude photos demanded for aid; held for ransom; slavery and wages kept
        # for a debt; a child beaten by a carer; walking into water.
        ("el encargado del albergue me pide fotos sin ropa", "violence"),
        ("the guard at the shelter asks the girls for nude pics", "violence"),
        ("los polleros no nos dejan ir hasta que la familia pague", "danger"),
        ("they wont let us go until our family pay", "danger"),
        ("nos tratan como esclavos en el rancho", "trafficking"),
        ("o patrao desconta tudo do pagamento", "trafficking"),
        ("o padrasto bate nele com cinto quando chora", "child_at_risk"),
        ("sometimes i think about walking into the sea", "self_harm"),
    ],
)
def test_a_disclosure_is_caught_whatever_else_the_message_asks(text, category):
    assert disclosure_in(text) == category


def test_numbers_first_categories_win_when_several_match():
    assert disclosure_in("mi esposo me pega y ya no quiero vivir") == "self_harm"
    assert CATEGORIES[:2] == ("danger", "self_harm")


@pytest.mark.parametrize(
    "text",
    [
        "me muero de hambre jaja",
        "preciso comer algo ou morro de fome kkk",
        "the boss gave us 24 hours to finish the job",
        "tengo que mandar fotos del pasaporte para el tramite",
        "we went for a walk by the river with the kids",
        "can my family pay the fee when we get there?",
        "tenemos que salir del albergue mañana, saben de otro?",
        "this heat is killing me",
        "looking for a shelter for my kids",
        "necesito un albergue en tapachula",
        "morrendo de fome kkk",
        "que calor me mata",
        "following the map to the shelter",
        "sigueme en face",
        "my phone is locked",
        "me segue no insta",
        "vi uma reportagem sobre trafico de pessoas",
        "perdi mi pasaporte donde saco otro",
    ],
)
def test_everyday_look_alikes_are_not_disclosures(text):
    assert disclosure_in(text) is None


def test_every_category_has_cues_and_every_cue_is_a_phrase():
    cues = lexicon()
    assert set(cues) == {
        *CATEGORIES,
        PERSON,
        PERSON_IDIOM,
        PERSON_REQUEST,
        PERSON_NEGATION,
        PERSON_OTHER,
    }
    for category, phrases in cues.items():
        assert phrases, category
        assert all(p == p.strip() and p for p in phrases)


def test_a_bad_cue_file_is_refused(tmp_path):
    (tmp_path / "xx.yml").write_text("violence: [yes]\n")
    with pytest.raises(ValueError, match="quote it"):
        lexicon(tmp_path)
    (tmp_path / "xx.yml").write_text("gossip: [hola]\n")
    with pytest.raises(ValueError, match="unknown cue categories"):
        lexicon(tmp_path)


@pytest.mark.parametrize(
    ("text", "asks"),
    [
        ("quiero hablar con una persona", True),
        ("pasame con alguien porfa", True),
        ("me pueden llamar", True),
        ("can i talk to someone", True),
        ("i want a human", True),
        ("quero falar com um atendente", True),
        ("necesito ayuda porfa", False),
        ("i need help please", False),
        ("preciso de ajuda por favor", False),
        ("ayudaaa", False),
        # A person word that names nobody to talk to.
        ("vi un documental sobre trata de personas", False),
        ("i watched a film about human trafficking, where can i read more", False),
        ("vi um documentario sobre trafico de pessoas", False),
        ("i need a human being pls", True),
        ("quero falar com alguem pessoalmente", True),
    ],
)
def test_a_request_for_a_person_names_one(text, asks):
    assert asks_for_person(text) is asks


@pytest.mark.parametrize(
    ("text", "requests"),
    [
        ("eres una maquina? quiero una persona", True),
        ("pasame con alguien porfa", True),
        ("is this a robot? i need someone real", True),
        ("can i speak with someone", True),
        ("i dont need a bot i need a person", True),
        ("no quiero un robot, quiero hablar con una persona", True),
        ("tem alguem de verdade ai?", True),
        ("me transfere pra um atendente", True),
        ("necesito hablar con alguien ahora no aguanto", True),
        # Person words alone are no request.
        ("eres un robot?", False),
        ("mi hijo no tiene con quien jugar", False),
        ("i am a real person", False),
        # Lonely is not asking: a request opens a case at once.
        ("estoy sola aqui, no tengo con quien hablar", False),
        ("nao tenho ninguem pra conversar aqui", False),
        ("i wish i had someone to talk to", False),
        # Under a negation, in any spelling of it.
        ("no quiero hablar con una persona", False),
        ("no me interesa hablar con alguien", False),
        ("i dont want to talk to someone", False),
        ("i don't want to talk to someone", False),
        ("i don’t want to speak to a person", False),
        ("nao quero falar com uma pessoa", False),
        ("nem quero falar com alguem", False),
        # Family, wifi, moving, "send me": not us.
        ("quiero hablar con alguien de mi familia", False),
        ("comunicame con mi mama", False),
        ("connect me with my family", False),
        ("nao consigo falar com alguem da minha familia", False),
        ("connect me to wifi", False),
        ("conectame con internet", False),
        ("quero me transferir pra outro abrigo", False),
        ("me passa para o whatsapp", False),
    ],
)
def test_a_request_for_a_person_in_so_many_words(text, requests):
    assert requests_person(text) is requests
    if requests:
        assert asks_for_person(text)
