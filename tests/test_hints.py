"""nnlab.hints: advice from a run's history, checked on real runs and on the boundaries."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

import nnlab
from nnlab.hints import chance_level, hints_for, suggest_learning_rate


def _records(*accuracies: float | None, learning_rate: float = 3.0, validation: float | None = None) -> list:
    return [
        SimpleNamespace(accuracy=a, validation_accuracy=validation, learning_rate=learning_rate)
        for a in accuracies
    ]


def test_a_saturating_learning_rate_gets_a_hint_with_a_useful_value(digits: nnlab.Dataset) -> None:
    job = nnlab.train(
        nnlab.Network([64, 30, 10], seed=0), digits, epochs=4, learning_rate=100.0, seed=0, progress=False
    )
    assert job.status == "completed"  # it does not diverge: it just never learns
    (hint,) = hints_for(job.history, digits.n_classes)
    assert "chance level (10%)" in hint
    assert "saturate" in hint
    assert "learning_rate=3." in hint


def test_a_run_that_learns_gets_no_hint(digits: nnlab.Dataset) -> None:
    job = nnlab.train(nnlab.Network([64, 30, 10], seed=0), digits, epochs=3, seed=0, progress=False)
    assert hints_for(job.history, digits.n_classes) == []


def test_stuck_means_every_one_of_the_last_epochs_near_chance() -> None:
    ceiling = 0.1 + 0.1 * 0.9  # a tenth of the way from chance to perfect
    assert hints_for(_records(0.1, 0.1, ceiling), 10)
    assert hints_for(_records(0.1, 0.1, ceiling + 0.01), 10) == []
    assert hints_for(_records(0.9, 0.1, 0.1, 0.1), 10)  # only the last three count
    assert hints_for(_records(0.1, 0.1), 10) == []  # too early to tell
    assert hints_for(_records(0.1, 0.1, 0.1, 0.1, 0.1), 10, patience=5)
    assert hints_for(_records(0.5, 0.5, 0.5), 2)  # chance is 50% for two classes
    assert hints_for(_records(None, None, None, validation=0.1), 10)  # validation stands in
    assert hints_for(_records(None, None, None), 10) == []  # nothing measured: no advice


@pytest.mark.parametrize(
    ("learning_rate", "words"),
    [(100.0, "learning_rate=3"), (0.001, "learning_rate=0.5"), (0.5, "scaled to [0, 1]")],
)
def test_the_advice_follows_the_learning_rate(learning_rate: float, words: str) -> None:
    (hint,) = hints_for(_records(0.1, 0.1, 0.1, learning_rate=learning_rate), 10)
    assert words in hint


@pytest.mark.parametrize(
    ("given", "suggested"),
    [(1e300, 3.0), (100.0, 3.0), (30.0, 3.0), (10.0, 1.0), (5.0, 0.5), (3.0, 0.3), (0.3, 0.03), (1, 0.1)],
)
def test_suggested_learning_rates_are_round_and_much_smaller(given: float, suggested: float) -> None:
    assert suggest_learning_rate(given) == suggested
    assert suggest_learning_rate(given) <= given / 10


def test_bad_arguments_say_what_to_pass() -> None:
    with pytest.raises(ValueError, match="positive number"):
        suggest_learning_rate(-1.0)
    with pytest.raises(ValueError, match="positive number"):
        suggest_learning_rate(float("nan"))
    with pytest.raises(TypeError, match="must be a number"):
        suggest_learning_rate("3")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_classes must be an int >= 2"):
        chance_level(1)
    with pytest.raises(ValueError, match="patience must be an int >= 1"):
        hints_for([], 10, patience=0)
    assert suggest_learning_rate(float("inf")) == 3.0
