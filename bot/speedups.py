"""What Rasa 3.6.21 (pinned) does slowly, done fast with the same result.

**The action server's responses.** Rasa validates every response of the action server
with ``jsonschema.validate``, which first checks the *schema* against JSON Schema's
meta-schema, on every call: under load that was 30 % of the Rasa server's event-loop
time (bench/load.py profiled with py-spy). Here the schema is checked once and the
response still validated every time, raising the same error with the same message.
Each event of a response must match exactly one of Rasa's 23 event schemas
(``oneOf``), which jsonschema tries one by one (2 ms for a response of five events).
They are told apart by their ``event`` constant, so an event matches exactly one of
them when it matches the one its ``event`` names: that one alone is tried (0.18 ms),
and a response found wanting is validated Rasa's way for Rasa's error.

**Loading the intent model.** To give the weights their shapes, Rasa trains the
loaded TensorFlow model on one example before reading its weights: TensorFlow traces
the whole training step (gradients, optimizer) for it, which was 19 of the server's
27 s of loading and half of its memory. A model loaded to answer (not to be trained
further) is built here by the prediction it runs anyway, and TensorFlow restores each
weight as it is created; the optimizer's state, saved with the weights, is not read.
Same predictions (tests/bot/test_speedups.py); ``Agent.load`` takes 7.6 s and 0.84 GB
instead of 26.7 s and 1.45 GB. Its predictions, one short message at a time, run on one
TensorFlow thread (unless TF_INTRA_OP_PARALLELISM_THREADS or
TF_INTER_OP_PARALLELISM_THREADS say otherwise): TensorFlow's idle pool threads spun on
the cores the server's other work needed, for matrices too small to share (16
conversations: 12-15 % more turns a second).

**Reading a history.** For every stored event it reads back, Rasa finds the event's
class by listing every subclass of ``Event`` anew (67 µs an event): 10 ms to read a
conversation of 30 turns, on every message of it. Here the class found for a type
name is remembered; an unknown name is looked up (and refused) as before.

**Running the model's graph.** Rasa hands each parse and each prediction to dask's
scheduler, which orders and runs a dozen nodes one after the other in this thread:
about 5 % of the server's time per turn went to scheduling. Here the nodes a target
needs are put in order once, and run in that order, with the same inputs, outputs and
errors. Training stays dask's: it runs once, and dask lets go of each node's output
as soon as nothing else needs it.

**Calling the action server.** Rasa opens a new HTTP session, and so a new connection,
for every action it asks the action server to run. Here an endpoint keeps one session
per event loop, with Rasa's headers, auth and timeout, its connections kept alive
while busy (not once idle for 2 s: Sanic closes them at 5 s); a request still gets its
own headers, timeout and errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import os
from functools import cache
from graphlib import TopologicalSorter
from typing import Any

import aiohttp
import tensorflow as tf
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for
from rasa.constants import ENV_CPU_INTER_OP_CONFIG, ENV_CPU_INTRA_OP_CONFIG
from rasa.core.actions.action import RemoteAction
from rasa.core.constants import DEFAULT_REQUEST_TIMEOUT
from rasa.engine.constants import PLACEHOLDER_IMPORTER
from rasa.engine.exceptions import GraphRunError
from rasa.engine.graph import GraphNode
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.shared.constants import DOCS_BASE_URL
from rasa.shared.core.events import Event
from rasa.utils.endpoints import EndpointConfig
from rasa.utils.tensorflow.constants import LEARNING_RATE, RUN_EAGERLY
from rasa.utils.tensorflow.models import RasaModel


class _ResponseSchema:
    """Rasa's schema of the action server's responses, checked once; ``valid`` reads
    an event against the one event schema its ``event`` names."""

    def __init__(self) -> None:
        schema = RemoteAction.action_response_format_spec()
        validator = validator_for(schema)
        validator.check_schema(schema)
        self.rasas = validator(schema)
        lean = copy.deepcopy(schema)
        variants = lean["properties"]["events"]["items"].pop("oneOf")
        self.lean = validator(lean)
        self.by_event = {
            v["properties"]["event"]["const"]: validator(v) for v in variants
        }
        if len(self.by_event) != len(variants):
            raise ValueError("Rasa's event schemas are not told apart by their type")

    def valid(self, result: Any) -> bool:
        return self.lean.is_valid(result) and all(
            event["event"] in self.by_event
            and self.by_event[event["event"]].is_valid(event)
            for event in result.get("events", [])
        )


_response_schema = cache(_ResponseSchema)


def _validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    schema = _response_schema()
    if schema.valid(result):
        return True
    error = best_match(schema.rasas.iter_errors(result))
    if error is None:
        return True
    error.message += (
        ". Failed to validate Action server response from API, make sure your "
        "response from the Action endpoint is valid. For more information about the "
        f"format visit {DOCS_BASE_URL}/custom-actions"
    )
    raise error


_rasa_load = RasaModel.load.__func__


def _one_thread() -> None:
    """TensorFlow on one thread, unless Rasa's settings say how many; once TensorFlow
    has run (another model loaded first, in a test), it keeps what it has."""
    if os.getenv(ENV_CPU_INTER_OP_CONFIG) or os.getenv(ENV_CPU_INTRA_OP_CONFIG):
        return
    with contextlib.suppress(RuntimeError):
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)


def _load(
    cls: type[RasaModel],
    model_file_name: str,
    model_data_example: Any,
    predict_data_example: Any = None,
    finetune_mode: bool = False,
    *args: Any,
    **kwargs: Any,
) -> RasaModel:
    if finetune_mode or predict_data_example is None:
        return _rasa_load(
            cls,
            model_file_name,
            model_data_example,
            predict_data_example,
            finetune_mode,
            *args,
            **kwargs,
        )
    _one_thread()
    model = cls(*args, **kwargs)
    config = kwargs.get("config", {})
    model.compile(
        optimizer=tf.keras.optimizers.Adam(config.get(LEARNING_RATE, 0.001)),
        run_eagerly=config.get(RUN_EAGERLY),
    )
    # Restored now for what exists, and for each weight as the prediction creates it.
    model.load_weights(model_file_name).expect_partial()
    model.run_inference(predict_data_example)
    return model


# A connection idle this long is not used again: the action server (Sanic) closes idle
# connections after 5 s, and a request sent on one as it closes would fail.
IDLE_CONNECTION_SECONDS = 2.0


def _new_session(endpoint: EndpointConfig) -> aiohttp.ClientSession:
    """Rasa's session for the endpoint (its headers, basic auth and timeout), on a
    connector that lets connections idle for IDLE_CONNECTION_SECONDS go."""
    auth = None
    if endpoint.basic_auth:
        auth = aiohttp.BasicAuth(
            endpoint.basic_auth["username"], endpoint.basic_auth["password"]
        )
    return aiohttp.ClientSession(
        headers=endpoint.headers,
        auth=auth,
        timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
        connector=aiohttp.TCPConnector(keepalive_timeout=IDLE_CONNECTION_SECONDS),
    )


class _KeptSession:
    """What ``async with endpoint.session() as session`` gets: the endpoint's session
    for the running loop, left open when the block ends."""

    def __init__(self, endpoint: EndpointConfig):
        self.endpoint = endpoint

    async def __aenter__(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        kept_loop, kept = getattr(self.endpoint, "_kept_session", (None, None))
        if kept is None or kept.closed or kept_loop is not loop:
            kept = _new_session(self.endpoint)
            self.endpoint._kept_session = (loop, kept)
        return kept

    async def __aexit__(self, *exc: object) -> None:
        return None


def _session(self: EndpointConfig) -> _KeptSession:
    return _KeptSession(self)


_rasa_resolve_by_type = Event.resolve_by_type
_event_classes: dict[str, type[Event]] = {}


def _resolve_by_type(
    type_name: str, default: type[Event] | None = None
) -> type[Event] | None:
    found = _event_classes.get(type_name)
    if found is None:
        found = _rasa_resolve_by_type(type_name, default)
        if found is not None and found.type_name == type_name:
            _event_classes[type_name] = found
    return found


_rasa_run_graph = DaskGraphRunner.run


class _Plan:
    """The nodes targets need, each after the nodes it needs, with what it needs."""

    def __init__(self, runner: DaskGraphRunner, targets: tuple[str, ...]) -> None:
        schema = runner._graph_schema.minimal_graph_schema(list(targets))
        needs = {
            name: tuple(node.needs.values()) for name, node in schema.nodes.items()
        }
        order = TopologicalSorter(
            {name: [n for n in needed if n in needs] for name, needed in needs.items()}
        ).static_order()
        self.steps: list[tuple[str, GraphNode, tuple[str, ...]]] = [
            (name, runner._instantiated_nodes[name], needs[name]) for name in order
        ]
        self.nodes = set(needs)


def _plan(runner: DaskGraphRunner, targets: tuple[str, ...]) -> _Plan:
    """The runner's plan for these targets (made once)."""
    plans = runner.__dict__.setdefault("_amparo_plans", {})
    if targets not in plans:
        plans[targets] = _Plan(runner, targets)
    return plans[targets]


def _run_graph(
    self: DaskGraphRunner,
    inputs: dict[str, Any] | None = None,
    targets: list[str] | None = None,
) -> dict[str, Any]:
    if inputs and PLACEHOLDER_IMPORTER in inputs:  # training, or its fingerprints
        return _rasa_run_graph(self, inputs, targets)
    run_targets = targets if targets else self._graph_schema.target_names
    plan = _plan(self, tuple(run_targets))
    # As dask's graph: an input is a ("name", value) entry, in place of a node of
    # that name; a need that nothing provides is passed as its bare name.
    done: dict[str, Any] = {}
    for name, value in (inputs or {}).items():
        if isinstance(value, str) and value in plan.nodes:
            raise GraphRunError(
                f"Input value '{value}' clashes with a node name. Make sure "
                f"that none of the input names passed to the `run` method are the "
                f"same as node names in the graph schema."
            )
        done[name] = (name, value)
    try:
        for name, node, needs in plan.steps:
            if name not in done:
                done[name] = node(*(done.get(need, need) for need in needs))
    except RuntimeError as e:
        raise GraphRunError("Error running runner.") from e
    return dict(done[target] for target in run_targets)


def install() -> None:
    RemoteAction._validate_action_result = _validate_action_result
    RasaModel.load = classmethod(_load)
    EndpointConfig.session = _session
    Event.resolve_by_type = staticmethod(_resolve_by_type)
    DaskGraphRunner.run = _run_graph
