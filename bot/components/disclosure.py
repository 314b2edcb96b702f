"""NLU component: the dedicated disclosure classifier (see amparo.disclosure)."""

from __future__ import annotations

import hashlib
import inspect
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

import amparo.disclosure
import amparo.text
from amparo import cues
from amparo.disclosure import NONE, DisclosureModel
from bot.components.language import PAYLOAD_PREFIX

# Key of the classifier's reading in the parse data; InputGuard reads it.
DISCLOSURE = "disclosure"
_FILE = "disclosure.npz"


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True
)
class DisclosureClassifier(GraphComponent):
    """Adds ``disclosure``: the category a message discloses, or None.

    Trained from the NLU examples with the rest of the model; a model without it
    refuses to load rather than run without its safety net.
    """

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"C": 1.0, "lean": 0.0}

    @staticmethod
    def required_packages() -> list[str]:
        return ["sklearn"]

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str:
        """Rasa reuses a trained component whose class source is unchanged: the code
        that folds the text and fits the model counts too."""
        modules = (amparo.disclosure, amparo.text, cues)
        source = "".join(inspect.getsource(module) for module in modules)
        return hashlib.sha256(source.encode()).hexdigest()

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        model: DisclosureModel | None = None,
    ) -> None:
        self._config = config
        self._storage = model_storage
        self._resource = resource
        self._model = model

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> DisclosureClassifier:
        return cls(config, model_storage, resource)

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> DisclosureClassifier:
        with model_storage.read_from(resource) as directory:
            model = DisclosureModel.load(directory / _FILE, lean=config["lean"])
        return cls(config, model_storage, resource, model)

    def train(self, training_data: TrainingData) -> Resource:
        examples = [
            # The disclosure intents' examples are disclosures, the rest are not.
            (
                example.get(TEXT),
                cues.DISCLOSURE_CATEGORIES.get(example.get(INTENT), NONE),
            )
            for example in training_data.intent_examples
        ]
        self._model = DisclosureModel.train(examples, c=self._config["C"])
        with self._storage.write_to(self._resource) as directory:
            self._model.save(directory / _FILE)
        return self._resource

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            if text.startswith(PAYLOAD_PREFIX):
                continue
            if self._model is None:
                raise RuntimeError("the disclosure classifier was never trained")
            message.set(DISCLOSURE, self._model.read(text), add_to_output=True)
        return messages
