"""Custom NLU components, configured in config.yml. Only the disclosure classifier
learns; the others are built from their config alone (ConfiguredComponent)."""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot import fallbacks, speedups, trackers

# Rasa imports this package when it loads the model: the server runs with the fixes,
# answers itself when the action server is away, and fails a turn its history cannot
# be read or kept for (instead of running it on an empty one).
speedups.install()
fallbacks.install()
trackers.install()


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
