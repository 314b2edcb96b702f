"""Rasa's lock store on Redis, awaited instead of blocking the event loop.

deploy/endpoints.yml: ``lock_store: {type: bot.locks.RedisLockStore, url: ..., port:
..., db: ..., key_prefix: ...}`` (the settings of Rasa's own ``type: redis``). Redis 5
or later (a script that reads the clock and then writes). Its keys are not Rasa's
(``<prefix>:tickets:<conversation id>``): a process still on Rasa's store would not
read them, so stop every Rasa process to switch.

With several Rasa processes, one conversation's messages are handled one after the
other through a lock in Redis, taken around every turn (Rasa's, and the channels' turn
lock: channels/base.py). Rasa's own Redis lock store talks to Redis with blocking
calls on the event loop's thread, six to eight round trips per lock (read the queue of
tickets, write it back, read it again to wait, to finish, to see whether anyone
waits, delete): under load a fifth of the Rasa server's main thread went to waiting
for Redis (bench/load.py, profiled with py-spy), with the machine's cores not all
busy. And its read-then-write is not atomic: two processes taking a ticket for the
same conversation at the same moment could take the same number.

Here a lock is two scripts Redis runs atomically (take a ticket, or see whether it is
served; give it back), awaited, with the same behaviour: tickets served in the order
taken, each expiring after its lifetime (``TICKET_LOCK_LIFETIME``, so a killed
process's lock ends), a waiter asking again every ``wait_time_in_seconds``, and
``LockError`` when a waiter's own ticket expired or Redis cannot be reached. Expiry is
read from Redis's clock, the same for every process. A ticket is a random token: one
that outlived its lifetime cannot give back a later turn's ticket. Giving a ticket
back is shielded from cancellation (a web client that hangs up cancels its request's
task): cut short, it would keep the person's next turns waiting for its lifetime.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from rasa.core.lock_store import LOCK_LIFETIME, LockError, LockStore
from rasa.utils.endpoints import EndpointConfig

logger = logging.getLogger(__name__)

# The key holds the conversation's tickets in the order taken, as JSON
# [[token, expires in ms of Redis's clock], ...]; gone when none is left.
_QUEUE = """
local key, token, lifetime = KEYS[1], ARGV[1], tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = clock[1] * 1000 + math.floor(clock[2] / 1000)
local stored = redis.call('GET', key)
local queue = {}
for _, ticket in ipairs(stored and cjson.decode(stored) or {}) do
  if ticket[2] > now then table.insert(queue, ticket) end
end
"""
_SAVE = """
if #queue == 0 then
  redis.call('DEL', key)
else
  local last = 0
  for _, ticket in ipairs(queue) do last = math.max(last, ticket[2]) end
  redis.call('SET', key, cjson.encode(queue), 'PX', math.max(1, last - now))
end
"""
# 1: the token is served; 0: it waits; -1: it expired. A lifetime above 0 takes a
# ticket for a token not in the queue.
_TAKE = f"""{_QUEUE}
local mine = false
for _, ticket in ipairs(queue) do
  if ticket[1] == token then mine = true end
end
if not mine then
  if lifetime <= 0 then {_SAVE} return -1 end
  table.insert(queue, {{token, now + lifetime}})
end
{_SAVE}
if queue[1][1] == token then return 1 end
return 0
"""
_GIVE_BACK = f"""{_QUEUE}
for i = #queue, 1, -1 do
  if queue[i][1] == token then table.remove(queue, i) end
end
{_SAVE}
return 0
"""
WAITING, EXPIRED = 0, -1  # and 1: served
# Not Rasa's "lock:": its store keeps another format under that name.
TICKETS = "tickets:"


class RedisLockStore(LockStore):
    """Rasa's ticket lock in Redis; Rasa 3.6 uses a lock store through ``lock()``
    only, which is all this one offers."""

    def __init__(self, endpoint_config: EndpointConfig) -> None:
        from redis.asyncio import Redis

        settings: dict[str, Any] = endpoint_config.kwargs
        self._redis = Redis(
            host=endpoint_config.url or "localhost",
            port=int(settings.get("port", 6379)),
            db=int(settings.get("db", 1)),
            username=settings.get("username"),
            password=settings.get("password"),
            ssl=bool(settings.get("use_ssl", False)),
            ssl_certfile=settings.get("ssl_certfile"),
            ssl_keyfile=settings.get("ssl_keyfile"),
            ssl_ca_certs=settings.get("ssl_ca_certs"),
            socket_timeout=float(settings.get("socket_timeout", 10)),
        )
        prefix = str(settings.get("key_prefix") or "")
        if prefix and not prefix.isalnum():
            raise ValueError(f"lock_store key_prefix {prefix!r} is not alphanumeric")
        self.key_prefix = f"{prefix}:{TICKETS}" if prefix else TICKETS
        self._take = self._redis.register_script(_TAKE)
        self._give_back_script = self._redis.register_script(_GIVE_BACK)
        super().__init__()

    @asynccontextmanager
    async def lock(
        self,
        conversation_id: str,
        lock_lifetime: float = LOCK_LIFETIME,
        wait_time_in_seconds: float = 1,
    ) -> AsyncIterator[None]:
        """Holds the conversation's lock for the block, after every ticket taken
        before this one."""
        key, token = self.key_prefix + conversation_id, secrets.token_hex(8)
        try:
            state = await self._run(self._take, key, token, int(lock_lifetime * 1000))
        except LockError:
            raise  # Redis out of reach: nothing taken, or a ticket that will expire
        except BaseException:
            await self._give_back(key, token, quietly=True)  # cancelled: maybe taken
            raise
        try:
            while state == WAITING:
                await asyncio.sleep(wait_time_in_seconds)
                state = await self._run(self._take, key, token, 0)
            if state == EXPIRED:
                raise LockError(
                    f"Could not acquire lock for conversation_id '{conversation_id}'."
                )
            yield
        except BaseException:
            await self._give_back(key, token, quietly=True)
            raise
        await self._give_back(key, token)

    async def _give_back(self, key: str, token: str, quietly: bool = False) -> None:
        """Gives the ticket back, even if the task is cancelled meanwhile; quietly:
        an error already on its way out is the one to tell (a ticket not given back
        expires by itself)."""
        try:
            await asyncio.shield(self._run(self._give_back_script, key, token))
        except LockError:
            if not quietly:
                raise
            logger.warning("a conversation's lock ticket was not given back")

    async def _run(self, script: Any, key: str, token: str, lifetime: int = 0) -> int:
        from redis.exceptions import RedisError

        try:
            return int(await script(keys=[key], args=[token, lifetime]))
        except RedisError as error:
            raise LockError(f"Error while using the lock store:\n{error}") from error
