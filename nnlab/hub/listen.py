"""A kernel's control channel: what a hub asks of this kernel's runs.

The hub publishes JSON ``{"action": "cancel" | "pause" | "resume" | "set_learning_rate",
"job_id": ..., "learning_rate": ...}`` on ``{channel}:control:{kernel_id}``;
:class:`ControlListener` (a thread of the kernel's publisher) asks the registry's job to do
it, at its next mini-batch. A message that cannot be done (an unknown job or action, a job
that has ended, a bad rate) is logged and ignored: the run's status says what happened.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from contextlib import suppress

from nnlab.hub._redis import import_redis, sync_client
from nnlab.registry import Registry

__all__ = ["ACTIONS", "ControlListener", "apply"]

logger = logging.getLogger("nnlab.hub")

#: What the control channel may ask of a job.
ACTIONS = ("cancel", "pause", "resume", "set_learning_rate")
#: Seconds to wait before subscribing again after Redis failed: the first, and the longest.
RETRY_FIRST, RETRY_MAX = 0.1, 2.0


def apply(registry: Registry, message: str | bytes) -> bool:
    """Do what one control message asks of a job of ``registry``; ``False`` (logged) if it
    cannot be done.

    >>> apply(Registry(), '{"action": "cancel", "job_id": "nope"}')
    False
    """
    try:
        request = json.loads(message)
        action, job_id = request["action"], request["job_id"]
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {ACTIONS}, got {action!r}")
        job = registry.job(job_id)
    except (ValueError, KeyError, TypeError) as exc:
        logger.warning("nnlab ignored a control message %.200r: %s", message, exc)
        return False
    try:
        if action == "set_learning_rate":
            rate = request.get("learning_rate")
            if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not math.isfinite(rate):
                raise ValueError(f"learning_rate must be a positive number, got {rate!r}")
            job.set_learning_rate(rate)
        else:
            getattr(job, action)()
    except Exception as exc:  # a job that has ended, a bad rate: the sender's business
        logger.warning("nnlab could not %s job %s: %s", action, job_id, exc)
        return False
    return True


class ControlListener:
    """Subscribes to ``channel`` on the Redis at ``url`` until ``stop`` is set, applying each
    message to ``registry`` (:func:`apply`); subscribes again after Redis comes back."""

    def __init__(self, url: str, channel: str, registry: Registry, stop: threading.Event) -> None:
        self.url = url
        self.channel = channel
        self.registry = registry
        self._stop = stop
        #: Whether it is subscribed now.
        self.listening = False
        #: Messages done.
        self.done = 0

    def run(self) -> None:
        """Listen until stopped (the body of the control thread)."""
        redis = import_redis()
        delay = RETRY_FIRST
        while not self._stop.is_set():
            client = sync_client(self.url)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self.channel)
                self.listening, delay = True, RETRY_FIRST
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=0.2)
                    if message is not None and message.get("type") == "message":
                        self.done += apply(self.registry, message["data"])
            except (redis.RedisError, OSError) as exc:
                self.listening = False
                logger.debug("control channel lost (%s); subscribing again in %.1f s", exc, delay)
                self._stop.wait(delay)
                delay = min(RETRY_MAX, delay * 2)
            finally:
                self.listening = False
                with suppress(Exception):
                    pubsub.close()
                with suppress(Exception):
                    client.close()
