"""``training_diagnostics``: the chapter 5 measures over Socket.IO, with a real server and client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from server_helpers import Recorder, check_update, train

from nnlab.events import DIAGNOSTICS_EVENT, Diagnostics
from nnlab.registry import Registry
from nnlab.server import Server
from nnlab.server.openapi import openapi_document

MEASURES = ("learning_speed", "saturation", "weight_norm", "gradient_norm")


class DiagnosticsRecorder(Recorder):
    """The Recorder, also keeping every ``training_diagnostics``."""

    def __init__(self, url: str, transports: list[str]) -> None:
        super().__init__(url, transports)
        self.client.on(DIAGNOSTICS_EVENT, self._recorder(DIAGNOSTICS_EVENT))

    def diagnostics(self, job_id: str) -> list[dict[str, object]]:
        with self._cond:
            return [d for n, d in self.events if n == DIAGNOSTICS_EVENT and d["job_id"] == job_id]


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with Server(port=0, registry=Registry()) as running:
        yield running


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_each_epoch_sends_its_measures_after_its_unchanged_update(server: Server, transport: str) -> None:
    client = DiagnosticsRecorder(server.url, [transport])
    try:
        job = train(epochs=4, diagnostics=True, registry=server.registry)
        client.wait_finished(job.job_id)
        client.wait_for(lambda: len(client.diagnostics(job.job_id)) == 4)
        sent = client.diagnostics(job.job_id)
        for record, payload in zip(job.history, sent, strict=True):
            assert record.diagnostics is not None
            assert payload == record.diagnostics.payload(record.update)
            assert set(payload) == {"job_id", "network_id", "epoch", *MEASURES}
            assert payload["network_id"] == job.network_id
            assert Diagnostics.from_dict(payload) == record.diagnostics  # type: ignore[arg-type]
            assert all(len(payload[m]) == 2 for m in MEASURES)  # type: ignore[arg-type]
        assert [p["epoch"] for p in sent] == [1, 2, 3, 4]
        # the contract's update is untouched: the same nine fields as without diagnostics
        updates = client.updates(job.job_id)
        assert updates == [record.update.to_dict() for record in job.history]
        for update in updates:
            check_update(update)
        # each epoch's measures come right after its update
        mine = [(n, d["epoch"]) for n, d in client.events if d["job_id"] == job.job_id and "epoch" in d]
        pairs = [(n, e) for n, e in mine if n != "training_status"]
        assert pairs == [(name, e) for e in range(1, 5) for name in ("training_update", DIAGNOSTICS_EVENT)]
    finally:
        client.close()


def test_a_run_without_diagnostics_sends_none(server: Server) -> None:
    client = DiagnosticsRecorder(server.url, ["websocket"])
    try:
        job = train(epochs=3, registry=server.registry)
        client.wait_finished(job.job_id)
        assert len(client.updates(job.job_id)) == 3
        assert client.diagnostics(job.job_id) == []
        assert all(record.diagnostics is None for record in job.history)
    finally:
        client.close()


def test_the_event_is_documented() -> None:
    event = openapi_document()["x-socketio-events"][DIAGNOSTICS_EVENT]
    assert set(event["payload"]["required"]) == {"job_id", "network_id", "epoch", *MEASURES}
    assert "diagnostics=true" in event["when"]
