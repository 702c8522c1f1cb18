"""Ctrl-C stops ``nnlab serve``: running jobs are cancelled (keeping their state) and the
process ends, with clients of both transports connected."""

from __future__ import annotations

import signal
import subprocess
import sys

from server_helpers import Api, RawEngineIO, Recorder


def test_ctrl_c_stops_nnlab_serve_with_a_job_running_and_clients_connected() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "nnlab", "serve", "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    recorders: list[Recorder] = []
    frozen: RawEngineIO | None = None
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("nnlab server on http://127.0.0.1:"), line
        url = line.split()[3]
        api = Api(url)
        recorders = [Recorder(url, ["polling"]), Recorder(url, ["websocket"])]
        frozen = RawEngineIO(url)  # connected, never reads: its writes back up
        net = api.create_network([64, 30, 10])
        status, job = api.post(
            f"/api/networks/{net['network_id']}/train",
            {"epochs": 10_000, "mini_batch_size": 10, "learning_rate": 3.0},
        )
        assert status == 202, job
        for recorder in recorders:
            recorder.wait_for(lambda r=recorder: len(r.updates(job["job_id"])) >= 3, timeout=60)

        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        for recorder in recorders:
            recorder.close()
        if frozen is not None:
            frozen.abort()
    assert proc.returncode == 0, err
    lines = out.splitlines()
    assert lines[-1] == "stopped", out
    cancelled = [text for text in lines if text.startswith(f"job {job['job_id']} cancelled after ")]
    assert len(cancelled) == 1, out
    epochs_kept = int(cancelled[0].split()[-2].split("/")[0])
    assert epochs_kept >= 3  # the epochs the clients saw are kept
    assert "Traceback" not in err


def test_ctrl_c_ends_the_process_even_if_a_library_thread_would_hold_it() -> None:
    # A non-daemon thread that never ends, as a library's worker could be.
    code = (
        "import threading, sys, nnlab.cli; "
        "threading.Thread(target=threading.Event().wait, name='stuck-worker').start(); "
        "sys.exit(nnlab.cli.main(['serve', '--port', '0']))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("nnlab server on http://127.0.0.1:"), line
        for shown in proc.stdout:  # the addresses, then the prompt
            if shown.strip() == "press Ctrl-C to stop":
                break
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, (out, err)
    assert out.splitlines()[-1] == "stopped", (out, err)
    assert "held by: stuck-worker" in err, (out, err)
