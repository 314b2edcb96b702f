import pytest

from amparo.cues import has_danger_cue


@pytest.mark.parametrize(
    "text",
    [
        "ayuda me estan siguiendo y necesito un albergue",
        "Me están siguiendo!!",
        "ya no quiero vivir",
        "mi esposo me pega",
        "someone is following me, i need a shelter",
        "I want to die",
        "tem alguem me seguindo",
        "quero morrer",
        "fui estuprada no caminho",
    ],
)
def test_danger_is_caught_whatever_else_the_message_asks(text):
    assert has_danger_cue(text)


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
    ],
)
def test_everyday_look_alikes_are_not_danger(text):
    assert not has_danger_cue(text)
