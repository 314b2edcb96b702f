"""Custom NLU components. Both are configured in config.yml and learn nothing."""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot import fallbacks, speedups

# Rasa imports this package when it loads the model: the server runs with the fixes,
# and answers itself when the action server is away.
speedups.install()
fallbacks.install()


class ConfiguredComponent(GraphComponent):
    """A component built from its config alone: nothing to train, persist or load."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> ConfiguredComponent:
        return cls(config)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data
