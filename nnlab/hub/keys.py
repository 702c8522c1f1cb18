"""What a class keeps in Redis, and the one way runs are written there.

Kernels and hubs of one class share a name, the ``channel`` (default ``"nnlab"``): it is
python-socketio's message-queue channel and the prefix of every key.

* ``{channel}:job:{job_id}`` -- a **Redis Stream per run**, every event of the run in order
  (fields ``e``: the event name, ``d``: the payload as JSON). Entry ids are derived from the
  epoch: the ``training_update`` of epoch *e* is ``e-0``, the events after it (diagnostics,
  pauses, the end) ``e-1``, ``e-2`` ...; the events before the first epoch ``0-1``,
  ``0-2`` ... So a run's events after epoch *e* are one ``XRANGE``, and writing an event
  again (a publisher catching up after Redis was down) is refused by Redis as a duplicate.
  The stream expires ``retention`` after the run's last event.
* ``{channel}:status`` / ``{channel}:latest`` -- hashes, job id -> the newest
  ``training_status`` / ``training_update`` payload as JSON.
* ``{channel}:networks`` -- hash, network id -> the network as JSON (``network_id``,
  ``sizes``, ``owner``, ``host``, ``kernel_id``).
* ``{channel}:changes`` -- sorted set, job id -> the class's ``{channel}:version`` counter at
  the run's last write: a hub asks it which runs changed since it last looked.
* ``{channel}:kernel:{kernel_id}`` -- a kernel's heartbeat, a key that expires unless the
  kernel renews it; its runs are ``interrupted`` once it is gone.
* ``{channel}:control:{kernel_id}`` -- the Pub/Sub channel a kernel listens on for
  requests about its runs (cancel, pause, resume, a new learning rate).
* ``{channel}:hub:{id}`` -- a hub's mark, renewed at each of its looks: when it is gone
  while the hub runs, Redis lost its data (restarted without persistence), and the hub
  looks at every run again.

:data:`APPEND` writes one event to all of these in one atomic step (a Lua script), so a
reader never sees a run's summary ahead of its stream.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from nnlab.events import FINISHED

__all__ = [
    "APPEND",
    "CHANNEL",
    "HUB_MARK",
    "INTERRUPT",
    "RETENTION",
    "STREAM_MAXLEN",
    "Keys",
    "append_args",
    "decode_entries",
    "dumps",
    "entry_id",
]

#: The default class name: python-socketio's channel and every key's prefix.
CHANNEL = "nnlab"
#: Seconds a run's stream is kept after its last event (a week: a course's lab sessions).
RETENTION = 7 * 24 * 3600
#: Most events one run's stream keeps (the oldest go first; about a hundred thousand epochs).
STREAM_MAXLEN = 100_000
#: The second part of the entry id a hub writes (an ``interrupted`` status): after any
#: event its kernel wrote at that epoch.
HUB_MARK = 1 << 62


@dataclass(frozen=True)
class Keys:
    """The key names of one class.

    >>> keys = Keys("physics-101")
    >>> keys.job("j1"), keys.kernel("k1"), keys.control("k1")
    ('physics-101:job:j1', 'physics-101:kernel:k1', 'physics-101:control:k1')
    """

    channel: str = CHANNEL

    def __post_init__(self) -> None:
        if not isinstance(self.channel, str) or not self.channel or any(c in self.channel for c in " \n*?[]"):
            raise ValueError(
                f"channel must be a short name without spaces such as 'nnlab', got {self.channel!r}"
            )

    def job(self, job_id: str) -> str:
        return f"{self.channel}:job:{job_id}"

    @property
    def status(self) -> str:
        return f"{self.channel}:status"

    @property
    def latest(self) -> str:
        return f"{self.channel}:latest"

    @property
    def networks(self) -> str:
        return f"{self.channel}:networks"

    @property
    def changes(self) -> str:
        return f"{self.channel}:changes"

    @property
    def version(self) -> str:
        return f"{self.channel}:version"

    def kernel(self, kernel_id: str) -> str:
        return f"{self.channel}:kernel:{kernel_id}"

    def control(self, kernel_id: str) -> str:
        return f"{self.channel}:control:{kernel_id}"


def entry_id(epoch: int, step: int) -> str:
    """The stream entry id of a run's event: ``step`` 0 is the update of ``epoch``.

    >>> entry_id(3, 0), entry_id(0, 1)
    ('3-0', '0-1')
    """
    return f"{int(epoch)}-{int(step)}"


def dumps(payload: Any) -> str:
    """A payload as compact JSON (what the stream and the hashes hold)."""
    return json.dumps(payload, separators=(",", ":"), allow_nan=False)


#: KEYS: stream, status, latest, networks, changes, version.
#: ARGV: job id, entry id, event, payload JSON, retention ms, stream maxlen, network id,
#: network JSON ("" for none). Returns 1 when written, 0 when the stream has it already.
APPEND = """
local added = redis.pcall('XADD', KEYS[1], 'MAXLEN', '~', ARGV[6], ARGV[2], 'e', ARGV[3], 'd', ARGV[4])
if type(added) == 'table' and added.err then
  if string.find(added.err, 'equal or smaller', 1, true) then return 0 end
  return redis.error_reply(added.err)
end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
if ARGV[3] == 'training_status' then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
elseif ARGV[3] == 'training_update' then
  redis.call('HSET', KEYS[3], ARGV[1], ARGV[4])
end
if ARGV[8] ~= '' then redis.call('HSET', KEYS[4], ARGV[7], ARGV[8]) end
local version = redis.call('INCR', KEYS[6])
redis.call('ZADD', KEYS[5], version, ARGV[1])
return 1
"""


#: :data:`APPEND` for a hub marking a run ``interrupted``: refused (0) when the run's stream
#: already ends with its end (the kernel finished it, or another hub marked it), so a run
#: that completed just as its kernel exited is never shown interrupted.
INTERRUPT = (
    """
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if #last > 0 and last[1][2][2] == 'training_status' then
  local ended = {"""
    + ", ".join(f"['{status}'] = true" for status in sorted(FINISHED))
    + """}
  if ended[cjson.decode(last[1][2][4])['status']] then return 0 end
end
"""
    + APPEND
)


def append_args(
    keys: Keys,
    job_id: str,
    entry: str,
    event: str,
    payload: dict[str, Any],
    *,
    network: dict[str, Any] | None = None,
    retention: float = RETENTION,
    maxlen: int = STREAM_MAXLEN,
) -> tuple[list[str], list[Any]]:
    """``(keys, args)`` for :data:`APPEND` (a ``redis`` ``Script`` call takes them)."""
    return (
        [keys.job(job_id), keys.status, keys.latest, keys.networks, keys.changes, keys.version],
        [
            job_id,
            entry,
            event,
            dumps(payload),
            int(retention * 1000),
            int(maxlen),
            "" if network is None else network["network_id"],
            "" if network is None else dumps(network),
        ],
    )


def decode_entries(entries: list[tuple[str, dict[str, str]]]) -> list[tuple[str, str, dict[str, Any]]]:
    """``XRANGE`` entries as ``(entry id, event, payload)``, oldest first.

    >>> decode_entries([("2-0", {"e": "training_update", "d": '{"epoch":2}'})])
    [('2-0', 'training_update', {'epoch': 2})]
    """
    return [(entry, fields["e"], json.loads(fields["d"])) for entry, fields in entries]
