"""The Redis lock store, on a real Redis (skipped, saying why, where there is none)."""

from __future__ import annotations

import asyncio
import json
import os
import uuid

import pytest
from rasa.core.lock_store import LockError, LockStore
from rasa.utils.endpoints import EndpointConfig

from bot.locks import RedisLockStore
from scripts.stack import deployed_lock_store

REDIS = os.environ.get("AMPARO_TEST_REDIS", "redis://127.0.0.1:6379/1")


@pytest.fixture
def redis_client():
    import redis

    client = redis.Redis.from_url(REDIS)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip(f"no Redis at {REDIS} (set AMPARO_TEST_REDIS)")
    prefix = f"amparotest{uuid.uuid4().hex[:8]}"
    yield client, prefix
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()


def store_for(redis_client, **changes) -> RedisLockStore:
    """deploy/endpoints.yml's lock store, made as Rasa makes it, on the test's Redis
    under a key prefix of the test's own."""
    client, prefix = redis_client
    where = client.connection_pool.connection_kwargs
    settings = deployed_lock_store(
        key_prefix=prefix, url=where["host"], port=where["port"], db=where["db"]
    )
    store = LockStore.create(EndpointConfig.from_dict(settings | changes))
    assert isinstance(store, RedisLockStore)
    return store


def keys(redis_client) -> list[bytes]:
    client, prefix = redis_client
    return list(client.scan_iter(f"{prefix}*"))


def queued(redis_client, conversation: str) -> int:
    """How many tickets the conversation's lock holds."""
    client, prefix = redis_client
    stored = client.get(f"{prefix}:tickets:{conversation}")
    return len(json.loads(stored)) if stored else 0


async def until(condition, seconds: float = 5) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "waited in vain"
        await asyncio.sleep(0.005)


def test_the_deployed_lock_store_is_this_one_under_keys_of_its_own(redis_client):
    """Not Rasa's "lock:" keys: Rasa's store keeps another format there."""
    _, prefix = redis_client
    store = store_for(redis_client)

    async def held() -> list[bytes]:
        async with store.lock("person-1"):
            return keys(redis_client)

    assert asyncio.run(held()) == [f"{prefix}:tickets:person-1".encode()]
    assert keys(redis_client) == []  # nothing left once nobody holds or waits


def test_one_conversation_is_served_in_the_order_its_tickets_were_taken(redis_client):
    store = store_for(redis_client)
    log: list[str] = []

    async def turn(name: str, seconds: float) -> None:
        async with store.lock("person-1", wait_time_in_seconds=0.01):
            log.append(f"{name} in")
            await asyncio.sleep(seconds)
            log.append(f"{name} out")

    async def main() -> None:
        first = asyncio.create_task(turn("a", 0.3))
        await until(lambda: "a in" in log)
        second = asyncio.create_task(turn("b", 0.0))
        await until(lambda: queued(redis_client, "person-1") == 2)
        third = asyncio.create_task(turn("c", 0.0))
        await asyncio.gather(first, second, third)

    asyncio.run(main())
    assert log == ["a in", "a out", "b in", "b out", "c in", "c out"]


def test_other_conversations_do_not_wait(redis_client):
    store = store_for(redis_client)

    async def main() -> float:
        async with store.lock("person-1"):
            loop = asyncio.get_running_loop()
            started = loop.time()
            async with store.lock("person-2"):
                return loop.time() - started

    assert asyncio.run(main()) < 0.5  # a wait would be a second at least


def test_a_lock_its_holder_never_gave_back_ends_with_its_lifetime(redis_client):
    """A Rasa process killed mid-turn: the next turn goes on once the ticket expires,
    and the late holder giving its ticket back does not free the next one's."""
    store = store_for(redis_client)
    log: list[str] = []

    async def turn(name: str, seconds: float, lifetime: float) -> None:
        async with store.lock("person-1", lifetime, wait_time_in_seconds=0.02):
            log.append(f"{name} in")
            await asyncio.sleep(seconds)
            log.append(f"{name} out")

    async def main() -> None:
        stuck = asyncio.create_task(turn("stuck", 0.6, lifetime=0.2))
        await until(lambda: "stuck in" in log)
        second = asyncio.create_task(turn("b", 1.0, lifetime=5))
        await until(lambda: queued(redis_client, "person-1") == 2)
        third = asyncio.create_task(turn("c", 0.0, lifetime=5))
        await asyncio.gather(stuck, second, third)

    asyncio.run(main())
    assert log == ["stuck in", "b in", "stuck out", "b out", "c in", "c out"]
    assert keys(redis_client) == []


def test_a_waiter_whose_own_ticket_expired_gets_a_lock_error(redis_client):
    store = store_for(redis_client)

    async def main() -> None:
        async with store.lock("person-1"):
            with pytest.raises(LockError):
                async with store.lock("person-1", 0.1, wait_time_in_seconds=0.3):
                    pytest.fail("a lock held by another turn was taken")

    asyncio.run(main())
    assert keys(redis_client) == []


def test_a_lock_is_given_back_when_the_turn_fails(redis_client):
    store = store_for(redis_client)

    async def main() -> None:
        with pytest.raises(RuntimeError):
            async with store.lock("person-1"):
                raise RuntimeError("the turn failed")
        async with store.lock("person-1", wait_time_in_seconds=5):
            pass  # not kept waiting by the failed turn's ticket

    asyncio.run(main())
    assert keys(redis_client) == []


def test_a_turn_cancelled_twice_still_gives_its_ticket_back(redis_client):
    """A web client hangs up (Sanic cancels the request's task) and the server stops
    (cancelled again, while the ticket is being given back, on a connection that
    dropped during the turn): the next turn does not wait for the ticket's
    lifetime."""
    store = store_for(redis_client)

    async def main() -> None:
        entered = asyncio.Event()

        async def turn() -> None:
            async with store.lock("person-1"):
                # Redis restarted, or an idle timeout: giving back connects first.
                await store._redis.connection_pool.disconnect()
                entered.set()
                await asyncio.sleep(10)

        task = asyncio.create_task(turn())
        await entered.wait()
        task.cancel()
        await asyncio.sleep(0)  # the turn starts giving its ticket back
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await until(lambda: queued(redis_client, "person-1") == 0, seconds=2)

    asyncio.run(main())


def test_no_redis_is_a_lock_error(redis_client):
    import socket

    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    store = store_for(redis_client, port=port, socket_timeout=1)

    async def main() -> None:
        async with store.lock("person-1"):
            pytest.fail("locked without Redis")

    with pytest.raises(LockError):
        asyncio.run(main())


def test_a_key_prefix_that_is_not_alphanumeric_is_refused(redis_client):
    with pytest.raises(ValueError, match="key_prefix"):
        store_for(redis_client, key_prefix="amparo:prod")
