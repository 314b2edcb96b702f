import numpy as np
import pytest

from amparo.cues import CATEGORIES
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
    folded = [phrase(t) for t in texts]
    scores = model._pipeline.decision_function(folded)
    none = list(model._pipeline.classes_).index(NONE)
    below = np.delete(scores, none, axis=1).max(axis=1) - scores[:, none]
    # Without lean the higher score decides, as the classifier's own prediction does.
    predicted = model._pipeline.predict(folded)
    assert [model.read(t) for t in texts] == [
        None if label == NONE else label for label in predicted
    ]
    # A lean between two messages' distances below none reads the nearer one only.
    nearer, further = sorted(-below[below < 0])[:2]
    assert nearer < further
    leaning = DisclosureModel(model._pipeline, lean=(nearer + further) / 2)
    readings = [leaning.read(t) for t in texts]
    for reading, distance in zip(readings, -below, strict=True):
        if distance < (nearer + further) / 2:
            assert reading in CATEGORIES  # never the label "none" itself
        else:
            assert reading is None
    assert sum(r is not None for r in readings) > sum(
        label != NONE for label in predicted
    )


@pytest.mark.parametrize("labels", [("violence", NONE), (NONE, "danger")])
def test_a_model_of_two_labels_leans_the_same_way(labels):
    category = next(label for label in labels if label != NONE)
    examples = [(text, category if label != NONE else NONE) for text, label in EXAMPLES]
    model = DisclosureModel.train(examples)
    texts = ["mi pareja me pega", "me estan siguiendo", "hola", "tengo hambre"]
    plain = [model.read(t) for t in texts]
    assert plain[0] == category and plain[2] is None
    assert [DisclosureModel(model._pipeline, lean=100).read(t) for t in texts] == [
        category
    ] * len(texts)
    assert all(
        DisclosureModel(model._pipeline, lean=-100).read(t) is None for t in texts
    )
