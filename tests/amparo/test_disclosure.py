import numpy as np
import pytest

from amparo.disclosure import NONE, DisclosureModel
from amparo.text import phrase

EXAMPLES = [
    ("mi pareja me pega", "violence"),
    ("mi esposo me golpea cuando toma", "violence"),
    ("el coyote quiere que me acueste con el para cruzar", "violence"),
    ("me quitaron el pasaporte y no me dejan salir", "trafficking"),
    ("trabajo sin pago y dicen que les debo", "trafficking"),
    ("tengo 15 y viajo solo", "child_at_risk"),
    ("perdi a mi hijo en la frontera", "child_at_risk"),
    ("ya no quiero vivir", "self_harm"),
    ("quiero desaparecer para siempre", "self_harm"),
    ("me estan siguiendo ayuda", "danger"),
    ("me quieren matar estoy escondida", "danger"),
    ("me muero de hambre jaja", NONE),
    ("donde hay un albergue", NONE),
    ("mi jefa me va a matar jaja", NONE),
    ("necesito una vacuna para mi hijo", NONE),
    ("hola buenas", NONE),
    ("gracias", NONE),
    ("donde puedo cargar el celular", NONE),
]


@pytest.fixture(scope="module")
def model() -> DisclosureModel:
    return DisclosureModel.train(EXAMPLES)


def test_it_reads_the_category_of_what_it_was_taught(model):
    assert model.read("MI PAREJA ME PEGA") == "violence"  # folded like typed text
    assert model.read("ya no quiero vivir") == "self_harm"
    assert model.read("donde hay un albergue") is None


@pytest.mark.parametrize("text", ["", "   ", "😀🙏", "?!"])
def test_a_message_without_words_is_not_a_disclosure(model, text):
    assert model.read(text) is None


def test_the_same_examples_in_any_order_give_the_same_model(model):
    again = DisclosureModel.train(list(reversed(EXAMPLES)))
    texts = ["me pega mi marido", "tengo miedo", "mi hijo se perdio", "hola"]
    assert [model.read(t) for t in texts] == [again.read(t) for t in texts]
    scores = [m._pipeline.decision_function(texts) for m in (model, again)]
    np.testing.assert_array_equal(*scores)


def test_a_saved_model_scores_as_it_did(model, tmp_path):
    path = tmp_path / "disclosure.npz"
    model.save(path)
    loaded = DisclosureModel.load(path)
    texts = [text for text, _ in EXAMPLES] + ["me pega mi marido", "hola que tal"]
    assert [loaded.read(t) for t in texts] == [model.read(t) for t in texts]
    scores = [m._pipeline.decision_function(texts) for m in (model, loaded)]
    np.testing.assert_array_equal(*scores)


def test_a_model_file_that_could_run_code_is_refused(model, tmp_path):
    path = tmp_path / "disclosure.npz"
    model.save(path)
    with np.load(path) as saved:
        arrays = dict(saved)
    arrays["char_terms"] = np.array([print, "hola"], dtype=object)  # a pickle
    with path.open("wb") as file:
        np.savez(file, **arrays)
    with pytest.raises(ValueError, match="allow_pickle"):
        DisclosureModel.load(path)


def test_it_needs_both_disclosures_and_other_messages():
    with pytest.raises(ValueError, match="needs disclosures"):
        DisclosureModel.train([("hola", NONE), ("gracias", NONE)])
    with pytest.raises(ValueError, match="unknown disclosure labels"):
        DisclosureModel.train([("hola", NONE), ("me pega", "abuse")])
    with pytest.raises(ValueError, match="needs the label"):
        DisclosureModel.train([("me pega", "violence"), ("me siguen", "danger")])


def test_lean_reads_a_category_that_scores_just_below_none(model):
    texts = ["me pega mi marido", "tengo miedo", "mi hijo se perdio", "hola", "gracias"]
    scores = model._pipeline.decision_function([phrase(t) for t in texts])
    none = list(model._pipeline.classes_).index(NONE)
    below = np.delete(scores, none, axis=1).max(axis=1) - scores[:, none]
    # Without lean the higher score decides, as the classifier's own prediction does.
    assert [model.read(t) for t in texts] == [
        None if label == NONE else label
        for label in model._pipeline.predict([phrase(t) for t in texts])
    ]
    leaning = DisclosureModel(model._pipeline, lean=-below.min() + 0.01)
    assert all(leaning.read(t) is not None for t in texts)
    # A category further below none than lean stays unread.
    strict = DisclosureModel(model._pipeline, lean=-below.max() - 0.01)
    assert all(strict.read(t) is None for t in texts)
