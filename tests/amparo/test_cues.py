import pytest

from amparo.cues import CATEGORIES, PERSON, asks_for_person, disclosure_in, lexicon


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("ayuda me estan siguiendo y necesito un albergue", "danger"),
        ("Me están siguiendo!!", "danger"),
        ("ya no quiero vivir", "self_harm"),
        ("mi esposo me pega", "violence"),
        ("someone is following me, i need a shelter", "danger"),
        ("I want to die", "self_harm"),
        ("tem alguem me seguindo", "danger"),
        ("quero morrer", "self_harm"),
        ("fui estuprada no caminho", "violence"),
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
    assert set(cues) == {*CATEGORIES, PERSON}
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
    ],
)
def test_a_request_for_a_person_names_one(text, asks):
    assert asks_for_person(text) is asks
