"""What bot/speedups.py makes fast does the same: the check of the action server's
responses still checks, the intent model loaded fast is the same model, a kept HTTP
session still answers and fails as Rasa's, and an event's type name gives the class
Rasa would find."""

import asyncio
import base64
import os
import subprocess
import sys
from datetime import datetime
from typing import Any

import pytest
from aiohttp import web
from jsonschema import ValidationError, validate
from rasa.core.actions.action import RemoteAction
from rasa.core.agent import Agent
from rasa.engine.constants import PLACEHOLDER_IMPORTER
from rasa.engine.exceptions import GraphComponentException, GraphRunError
from rasa.engine.graph import ExecutionContext, GraphComponent, GraphSchema, SchemaNode
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.events import ActionExecuted, Event, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.utils.common import all_subclasses
from rasa.utils.endpoints import ClientResponseError, EndpointConfig
from rasa.utils.tensorflow.models import RasaModel

import bot.components  # noqa: F401  (what Rasa imports: installs the fixes)
from bot import speedups
from bot.speedups import _validate_action_result
from tests.e2e.conftest import MODEL


@pytest.fixture(scope="module")
def model() -> str:
    if not MODEL.exists():
        pytest.skip(f"no trained model at {MODEL}: run `make test`, which trains first")
    return str(MODEL)


@pytest.fixture(scope="module")
def agent(model) -> Agent:
    """The trained model, loaded as the server loads it."""
    return Agent.load(model)


@pytest.fixture
def action() -> RemoteAction:
    return RemoteAction("action_search_services", EndpointConfig("http://x"))


def test_rasa_runs_with_the_fast_check():
    assert RemoteAction._validate_action_result is _validate_action_result


@pytest.mark.parametrize(
    "response",
    [
        {"events": [], "responses": []},
        {"events": [{"event": "slot", "name": "place", "value": "Tapachula"}]},
        {"responses": [{"response": "utter_ok", "text": None}]},
    ],
)
def test_a_valid_response_passes(action, response):
    assert action._validate_action_result(response) is True


@pytest.mark.parametrize(
    "response",
    [
        {"events": "not a list"},
        {"events": None},
        [],
        {"events": [{"name": "place"}]},  # an event needs its type
        {"events": [{"event": "no_such_event"}]},
        {"events": [{"event": 3}]},
        {"events": [{"event": "slot", "value": "Tapachula"}]},  # which slot?
        {"events": [{"event": "user", "text": 5}]},
        {"events": [{"event": "action", "name": "x", "confidence": "high"}]},
        {"events": [{"event": "bot", "timestamp": "yesterday"}]},
        {"events": [{"event": "slot", "name": "a", "value": 1}, {"event": "nope"}]},
        {"responses": [{"text": "hi"}, "hi"]},
    ],
)
def test_an_invalid_response_is_refused_as_before(action, response):
    with pytest.raises(ValidationError) as ours:
        action._validate_action_result(response)
    assert "Failed to validate Action server" in ours.value.message
    # The same verdict and error as Rasa's own jsonschema.validate.
    with pytest.raises(ValidationError) as rasas:
        _rasas_validate(response)
    assert ours.value.message.startswith(rasas.value.message)
    assert list(ours.value.path) == list(rasas.value.path)


def _rasas_validate(response: Any) -> None:
    validate(response, RemoteAction.action_response_format_spec())


def _every_event() -> list[dict[str, Any]]:
    """One of each event Rasa serialises, as an action server sends them."""
    from rasa.shared.core import events

    return [
        e.as_dict()
        for e in [
            events.UserUttered("hola", {"name": "greet", "confidence": 0.9}, []),
            events.BotUttered("hi", {"buttons": [{"title": "1", "payload": "/a"}]}),
            events.SlotSet("place", "Tapachula"),
            events.SlotSet("results", [{"id": "a", "km": 1.5}]),
            events.ActionExecuted("action_search_services", "RulePolicy", 1.0),
            events.FollowupAction("action_listen"),
            events.ActiveLoop("place_form"),
            events.ActiveLoop(None),
            events.Restarted(),
            events.AllSlotsReset(),
            events.SessionStarted(),
            events.ActionReverted(),
            events.UserUtteranceReverted(),
            events.ConversationPaused(),
            events.ConversationResumed(),
            events.StoryExported(),
            events.ReminderScheduled("EXTERNAL_x", datetime(2026, 1, 1)),
            events.ReminderCancelled(name="r"),
            events.ActionExecutionRejected("place_form"),
            events.LoopInterrupted(True),
            events.AgentUttered("x"),
            events.EntitiesAdded([{"entity": "place", "value": "Lima"}]),
            events.DefinePrevUserUtteredFeaturization(False),
        ]
    ]


def test_every_event_rasa_sends_is_read_as_rasa_reads_it(action):
    every = _every_event()
    assert action._validate_action_result({"events": every, "responses": []})
    # Each alone, and each made wrong in its type, its time or a field.
    for event in every:
        for wrong in (
            event,
            {**event, "event": "no_such_event"},
            {**event, "timestamp": "now"},
            {**event, "name": 7},
            {**event, "text": []},
        ):
            response = {"events": [every[0], wrong]}
            try:
                _rasas_validate(response)
            except ValidationError:
                with pytest.raises(ValidationError):
                    action._validate_action_result(response)
            else:
                assert action._validate_action_result(response) is True


def test_rasas_event_schemas_are_told_apart_by_their_type():
    """What the quick check stands on: each of Rasa's event schemas names its own
    type, so an event can match none but the one it names."""
    schema = RemoteAction.action_response_format_spec()
    variants = schema["properties"]["events"]["items"]["oneOf"]
    types = [v["properties"]["event"]["const"] for v in variants]
    assert len(types) == len(set(types)) > 20


def test_rasa_loads_models_with_the_fast_load():
    assert RasaModel.load.__func__ is speedups._load


def test_the_model_loaded_to_answer_predicts_what_rasas_load_predicts(
    agent, model, monkeypatch
):
    """The trained intent model, loaded both ways: the same intents, confidences and
    entities, to six decimals, in the three languages."""
    texts = [
        "hola",
        "necesito un albergue en tapachula",
        "donde puedo cargar el celular en cucuta",
        "mi pareja me pega y tengo miedo",
        "i need a doctor near boa vista",
        "where can i eat",
        "someone is following me",
        "preciso de um abrigo em pacaraima",
        "quero falar com uma pessoa",
        "english please",
        "1",
    ]
    monkeypatch.setattr(RasaModel, "load", classmethod(speedups._rasa_load))
    rasas = Agent.load(model)

    def reading(agent: Agent, text: str) -> tuple:
        parsed = asyncio.run(agent.parse_message(text))
        ranking = [
            (i["name"], round(i["confidence"], 6)) for i in parsed["intent_ranking"]
        ]
        entities = [
            (e["entity"], e["value"], round(e.get("confidence_entity") or 0, 6))
            for e in parsed["entities"]
        ]
        return ranking, entities

    for text in texts:
        assert reading(agent, text) == reading(rasas, text), text


def test_rasa_runs_its_graphs_in_a_plain_order():
    assert DaskGraphRunner.run is speedups._run_graph


class Number(GraphComponent):
    @classmethod
    def create(cls, config, model_storage, resource, execution_context) -> "Number":
        return cls(config)

    def __init__(self, config: dict) -> None:
        self.config = config

    def value(self) -> int:
        return self.config["value"]

    def add(self, a: int, b: int) -> int:
        return a + b

    def fail(self, a: int) -> int:
        raise RuntimeError("failed")


def _node(fn: str, value: int = 0, **needs: str) -> SchemaNode:
    return SchemaNode(needs, Number, "create", fn, {"value": value})


@pytest.fixture
def toy(tmp_path) -> DaskGraphRunner:
    schema = GraphSchema(
        {
            "one": _node("value", 1),
            "two": _node("value", 2),
            "sum": _node("add", a="one", b="two"),
            "plus_input": _node("add", a="sum", b="__x__"),
            "fails": _node("fail", a="one"),
        }
    )
    return DaskGraphRunner(
        schema, LocalModelStorage(tmp_path), ExecutionContext(schema)
    )


@pytest.mark.parametrize(
    "inputs, targets, expected",
    [
        ({}, ["sum"], {"sum": 3}),
        ({"__x__": 10}, ["plus_input", "two"], {"plus_input": 13, "two": 2}),
        ({"one": 5}, ["sum"], {"sum": 7}),  # an input in place of a node
        ({"__x__": 10}, ["__x__"], {"__x__": 10}),  # an input as a target
    ],
)
def test_a_graph_gives_what_dask_gives(toy, inputs, targets, expected):
    assert speedups._run_graph(toy, inputs, targets) == expected
    assert speedups._rasa_run_graph(toy, inputs, targets) == expected


@pytest.mark.parametrize("run", [speedups._run_graph, speedups._rasa_run_graph])
def test_a_graph_fails_as_with_dask(toy, run):
    with pytest.raises(GraphRunError, match="Missing input"):
        run(toy, {}, ["plus_input"])  # nothing provides __x__
    with pytest.raises(GraphComponentException, match="node fails") as failed:
        run(toy, {}, ["fails"])
    assert str(failed.value.__cause__) == "failed"
    with pytest.raises(GraphRunError, match="clashes with a node name"):
        run(toy, {"__x__": "one"}, ["plus_input"])


def test_training_is_run_by_dask(toy, monkeypatch):
    """Its outputs are let go as soon as nothing else needs them."""
    ran = []
    monkeypatch.setattr(
        speedups, "_rasa_run_graph", lambda *args: ran.append(args) or {}
    )
    speedups._run_graph(toy, {PLACEHOLDER_IMPORTER: object(), "__x__": 1}, ["sum"])
    assert len(ran) == 1
    speedups._run_graph(toy, {"__x__": 1}, ["sum"])
    assert len(ran) == 1


def _rounded(found: Any) -> Any:
    """To nine significant digits: the language scores' last bits vary from run to
    run (with dask too)."""
    if isinstance(found, float):
        return float(f"{found:.9g}")
    if isinstance(found, dict):
        return {k: _rounded(v) for k, v in found.items()}
    if isinstance(found, (list, tuple)):
        return [_rounded(v) for v in found]
    return found


def test_the_graph_run_in_order_reads_and_decides_as_with_dask(agent, monkeypatch):
    """The trained model's parse and next action, run both ways: the same."""
    texts = [
        "hola",
        "necesito un albergue en tapachula",
        "mi pareja me pega y tengo miedo",
        "where can i eat",
        "quero falar com uma pessoa",
        "english please",
        "asdfgh",
    ]

    def run(text: str) -> tuple:
        parsed = asyncio.run(agent.parse_message(text))
        tracker = DialogueStateTracker.from_events(
            "someone",
            [
                ActionExecuted(ACTION_LISTEN_NAME),
                UserUttered(text, parsed["intent"], parsed["entities"], parsed),
            ],
            slots=agent.domain.slots,
        )
        decided = agent.processor._predict_next_with_tracker(tracker)
        events = [
            {k: v for k, v in e.as_dict().items() if k != "timestamp"}
            for e in decided.events
        ]
        return _rounded((parsed, decided.policy_name, decided.probabilities, events))

    ours = [run(text) for text in texts]
    monkeypatch.setattr(DaskGraphRunner, "run", speedups._rasa_run_graph)
    assert ours == [run(text) for text in texts]
    assert {ours[0][1], ours[2][1]} <= {"RulePolicy", "LanguagePolicy"}


THREADS = (
    "import tensorflow as tf; c = tf.config.threading; "
    "print(c.get_intra_op_parallelism_threads(), c.get_inter_op_parallelism_threads())"
)


def _in_a_new_process(code: str, **env: str) -> str:
    settings = {k: v for k, v in os.environ.items() if not k.startswith("TF_IN")}
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**settings, "TF_CPP_MIN_LOG_LEVEL": "3", **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


def test_the_model_loaded_to_answer_runs_on_one_tensorflow_thread(model):
    load = (
        "import bot.components; from rasa.core.agent import Agent; "
        f"Agent.load({model!r}); "
    )
    assert _in_a_new_process(load + THREADS) == "1 1"


@pytest.mark.parametrize(
    "setting", ["TF_INTRA_OP_PARALLELISM_THREADS", "TF_INTER_OP_PARALLELISM_THREADS"]
)
def test_rasas_thread_settings_are_left_to_rasa(setting):
    """Rasa's command line applies them before anything loads; the fast load then
    leaves TensorFlow's threads as they are (0: TensorFlow's choice)."""
    code = "from bot import speedups; speedups._one_thread(); " + THREADS
    assert _in_a_new_process(code, **{setting: "2"}) == "0 0"
    assert _in_a_new_process(code) == "1 1"


async def _serve(handler) -> tuple[web.AppRunner, int]:
    app = web.Application()
    app.router.add_post("/{path}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]


def test_an_endpoint_keeps_its_connection_between_requests():
    seen = []

    async def handler(request: web.Request) -> web.Response:
        peer = request.transport.get_extra_info("peername")
        seen.append(
            (peer, request.headers.get("X-Org"), request.headers.get("Authorization"))
        )
        body = await request.json()
        if request.match_info["path"] == "bad":
            return web.json_response({"error": "no"}, status=400)
        return web.json_response({"echo": body})

    async def scenario(endpoint: EndpointConfig | None = None) -> tuple:
        runner, port = await _serve(handler)
        try:
            endpoint = endpoint or EndpointConfig(
                "",
                headers={"X-Org": "amparo"},
                basic_auth={"username": "u", "password": "p"},
            )
            endpoint.url = f"http://127.0.0.1:{port}/webhook"
            first = await endpoint.request(json={"n": 1})
            second = await endpoint.request(json={"n": 2})
            with pytest.raises(ClientResponseError):
                await endpoint.request(json={"n": 3}, subpath="../bad")
            # Idle longer than speedups lets it, a connection is not used again
            # (Sanic closes idle ones at 5 s): a new one is opened.
            await asyncio.sleep(speedups.IDLE_CONNECTION_SECONDS + 0.5)
            await endpoint.request(json={"n": 4})
            return endpoint, first, second
        finally:
            await runner.cleanup()

    endpoint, first, second = asyncio.run(scenario())
    assert (first, second) == ({"echo": {"n": 1}}, {"echo": {"n": 2}})
    peers = [peer for peer, _, _ in seen]
    assert peers[0] == peers[1]  # one connection for both
    assert peers[3] != peers[0]  # not after it idled
    auth = "Basic " + base64.b64encode(b"u:p").decode()
    assert {(org, authorization) for _, org, authorization in seen} == {
        ("amparo", auth)
    }
    # Another event loop (a test's, a restarted server's) gets a session of its own.
    _, again, _ = asyncio.run(scenario(endpoint))
    assert again == {"echo": {"n": 1}}


def test_an_event_type_resolves_to_the_class_rasa_finds():
    names = {cls.type_name for cls in all_subclasses(Event)}
    assert Event.resolve_by_type is speedups._resolve_by_type
    for name in sorted(names):
        for _ in range(2):  # looked up, then remembered
            assert Event.resolve_by_type(name) is speedups._rasa_resolve_by_type(name)
    assert Event.resolve_by_type("no_such_event", SlotSet) is SlotSet
    with pytest.raises(ValueError, match="Unknown event name 'no_such_event'"):
        Event.resolve_by_type("no_such_event")
    assert Event.resolve_by_type("topic") is None
    stored = {"event": "slot", "name": "place", "value": "Tapachula", "timestamp": 1}
    assert Event.from_parameters(stored) == SlotSet("place", "Tapachula", 1)
