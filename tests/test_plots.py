"""nnlab.plots: curves, digit grids and what a network learned, as inline SVG with a text stand-in."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys

import numpy as np
import pytest

import nnlab
from nnlab import plots


@pytest.fixture(scope="module")
def runs(digits: nnlab.Dataset) -> dict[str, nnlab.TrainingJob]:
    return {
        f"η = {eta}": nnlab.train(
            nnlab.Network([64, 10, 10], seed=0), digits, epochs=4, learning_rate=eta, seed=0, progress=False
        )
        for eta in (0.5, 3.0)
    }


def _polylines(svg: str) -> list[list[tuple[float, float]]]:
    return [
        [tuple(map(float, point.split(","))) for point in match.split()]
        for match in re.findall(r'<polyline points="([^"]+)"', svg)
    ]


def test_curves_of_runs_draw_one_line_per_run_from_their_history(runs: dict) -> None:
    pic = plots.curves(runs, title="Test accuracy")
    lines = _polylines(pic.html)
    assert len(lines) == 2
    assert all(len(line) == 4 for line in lines)  # one point per epoch
    assert "Test accuracy" in pic.html
    assert "η = 0.5" in pic.html
    assert "η = 3.0" in pic.html
    assert pic._repr_html_() == pic.html
    # higher accuracy is drawn higher up (smaller y), epoch by epoch, across both runs
    accuracies = [r.accuracy for job in runs.values() for r in job.history]
    ys = [y for line in lines for _, y in line]
    order = np.argsort(accuracies, kind="stable")
    assert all(ys[a] >= ys[b] for a, b in itertools.pairwise(order) if accuracies[a] < accuracies[b])
    # x grows with the epoch
    assert all(line[i][0] < line[i + 1][0] for line in lines for i in range(3))
    # accuracies are labelled in percent, the text names each run with its first and last value
    assert re.search(r">\d+%</text>", pic.html)
    first = runs["η = 3.0"].history[0].accuracy
    last = runs["η = 3.0"].history[-1].accuracy
    assert "η = 3.0" in pic.text
    assert f"{first:.3g} → {last:.3g}" in pic.text


def test_curves_take_one_job_several_fields_or_plain_values(runs: dict) -> None:
    job = runs["η = 3.0"]
    both = plots.curves(job, ["accuracy", "validation_accuracy"])
    assert len(_polylines(both.html)) == 2
    assert "validation_accuracy" in both.html
    assert plots.values(job, "training_cost") == [r.training_cost for r in job.history]
    listed = plots.curves(list(runs.values()), "training_cost")
    assert "run 1" in listed.html
    assert "run 2" in listed.html
    assert "%" not in listed.html  # costs are not percentages
    plain = plots.curves({"a": [1.0, None, 3.0], "b": [2.0]})
    lines = _polylines(plain.html)
    assert len(lines[0]) == 2  # None is skipped
    assert "<circle" in plain.html  # a single value is a dot


def test_curves_reject_what_they_cannot_draw(runs: dict) -> None:
    with pytest.raises(ValueError, match="no field 'acuracy'"):
        plots.curves(runs, "acuracy")
    with pytest.raises(TypeError, match="pass a TrainingJob, a list of values"):
        plots.curves({"x": 42})
    empty = plots.curves({"x": []}, title="nothing")
    assert "no values" in empty.html


def test_side_by_side_keeps_every_picture(runs: dict) -> None:
    a = plots.curves(runs, title="A")
    b = plots.curves(runs, "training_cost", title="B")
    row = plots.side_by_side(a, b)
    assert a.html in row.html
    assert b.html in row.html
    assert row.text == a.text + "\n\n" + b.text


def test_digits_grid_marks_wrong_answers(digits: nnlab.Dataset) -> None:
    X, y = digits.test
    predicted = y[:6].copy()
    predicted[2] = (y[2] + 1) % 10
    pic = plots.digits(X[:6], y[:6], predicted)
    assert pic.html.count("<figure") == 6
    assert pic.html.count("<rect") == int(np.sum(X[:6] > 0.005))
    assert f"{y[2]} → {predicted[2]}" in pic.html
    assert pic.html.count("color:#d62728") == 1  # only the wrong one is red
    assert pic.text.startswith("6 images: ")
    labelled = plots.digits(X[:3], y[:3])
    assert labelled.text == "3 images: " + "  ".join(str(v) for v in y[:3])
    custom = plots.digits(X[:2], captions=["a", "b"])
    assert "<figcaption" in custom.html
    assert custom.text == "2 images: a  b"
    assert 'viewBox="0 0 28 28"' in plots.digits(np.zeros((1, 784))).html


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((np.zeros((2, 10)),), {}, "10 pixels per row is not a square number"),
        ((np.zeros((2, 4, 4)),), {}, r"shape \(m, n_pixels\)"),
        ((np.zeros((2, 4)), [1]), {}, "one label per image"),
        ((np.zeros((2, 4)),), {"captions": ["x"]}, "one text per image"),
    ],
)
def test_digits_rejects_bad_input_with_the_fix(args: tuple, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plots.digits(*args, **kwargs)


def test_importing_plots_loads_no_server_and_no_widgets() -> None:
    code = (
        "import sys, nnlab.plots; "
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('socketio', 'ipywidgets', 'starlette') "
        "or m.startswith(('nnlab.server', 'nnlab.live'))); print(heavy)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# ---------------------------------------------------------------- what the network learned
@pytest.fixture(scope="module")
def trained(digits: nnlab.Dataset) -> nnlab.TrainingJob:
    return nnlab.train(nnlab.Network([64, 16, 10], seed=0), digits, epochs=6, seed=0, progress=False)


def test_the_confusion_matrix_counts_true_against_predicted(trained: nnlab.TrainingJob) -> None:
    X, y = trained.data.test
    predicted = trained.network.predict(X)
    counts = plots.confusion_matrix(trained)  # the job's own data, its test split
    assert counts.shape == (10, 10)
    for i, j in itertools.product(range(10), repeat=2):
        assert counts[i, j] == int(np.sum((y == i) & (predicted == j)))
    assert counts.trace() == trained.history[-1].correct
    validation = plots.confusion_matrix(trained.network, trained.data, split="validation")
    assert validation.sum() == len(trained.data.validation[1])
    assert np.array_equal(
        plots.confusion_matrix(trained.network, (X[:7], y[:7])).sum(axis=1), np.bincount(y[:7], minlength=10)
    )


def test_the_confusion_picture_shows_every_count(trained: nnlab.TrainingJob) -> None:
    counts = plots.confusion_matrix(trained)
    pic = plots.confusion(trained)
    cells = re.findall(r'data-true="(\d+)" data-predicted="(\d+)" data-count="(\d+)"', pic.html)
    assert len(cells) == 100
    assert all(counts[int(i), int(j)] == int(v) for i, j, v in cells)
    right = trained.history[-1].correct
    assert f"{right}/300 right" in pic.text
    assert f"{right}/300 right" in pic.html
    rows = pic.text.splitlines()[2:]
    assert [int(v) for v in rows[3].split()[1:]] == counts[3].tolist()


def test_mistakes_show_the_misclassified_digits_with_both_labels(trained: nnlab.TrainingJob) -> None:
    X, y = trained.data.test
    predicted = trained.network.predict(X)
    wrong = np.flatnonzero(predicted != y)
    pic = plots.mistakes(trained, limit=5)
    assert pic.text.startswith(f"5 of {len(wrong)} mistakes on test: ")
    expected = "  ".join(f"{y[k]} → {predicted[k]}" for k in wrong[:5])
    assert pic.text.endswith(expected)
    assert pic.html.count("<figure") == 5
    perfect = plots.mistakes(trained.network, (X[wrong[:0]], y[wrong[:0]]))
    assert perfect.text.startswith("no mistakes")


def test_first_layer_weights_are_drawn_one_image_per_hidden_neuron(trained: nnlab.TrainingJob) -> None:
    pic = plots.weights(trained)
    assert pic.html.count('class="unit"') == 16
    assert "16 of 16 hidden neurons" in pic.text
    assert plots.weights(trained.network, limit=4).html.count('class="unit"') == 4
    # the strongest weight of the first neuron is drawn at full strength, in its sign's colour
    w = trained.network.weights[0][0]
    k = int(np.argmax(np.abs(w)))
    color = "#d62728" if w[k] > 0 else "#1f77b4"
    first = pic.html.split('class="unit"')[1].split("</svg>")[0]
    assert (
        f'<rect x="{k % 8}" y="{k // 8}" width="1" height="1" fill="{color}" fill-opacity="1.00"/>' in first
    )


def test_what_the_network_learned_rejects_what_it_cannot_draw(trained: nnlab.TrainingJob) -> None:
    with pytest.raises(ValueError, match="not a square number"):
        plots.weights(nnlab.Network([10, 3, 2], seed=0))
    with pytest.raises(ValueError, match="pass data="):
        plots.confusion(trained.network)
    with pytest.raises(TypeError, match="Network or the TrainingJob"):
        plots.mistakes("net", trained.data)
    with pytest.raises(ValueError, match="no 'validation' split"):
        plots.confusion(trained.network, nnlab.datasets.from_arrays(*trained.data.test), split="validation")
