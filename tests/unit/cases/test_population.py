from __future__ import annotations

from pipeline.cases.bench import run_bench
from pipeline.cases.population import generate, pairwise_scores


def test_pairwise_scores_counts_pairs() -> None:
    truth = {"a": 1, "b": 1, "c": 1, "d": 2, "e": 3}
    # Predicted: {a, b} together, c alone, d and e wrongly together.
    scores = pairwise_scores([["a", "b"], ["c"], ["d", "e"]], truth)
    assert (scores.true_pairs, scores.predicted_pairs, scores.correct_pairs) == (3, 2, 1)
    assert scores.precision == 0.5
    assert scores.recall == 1 / 3


def test_population_is_deterministic_ordered_and_has_truth() -> None:
    one, two = generate(300, seed=3), generate(300, seed=3)
    assert one.mentions == two.mentions
    assert one.identities == two.identities
    times = [m["created_at"] for m in one.mentions]
    assert times == sorted(times)
    assert set(one.truth) == {m["id"] for m in one.mentions}
    assert 0 < one.multi_channel < 300
    multi = {}
    for m in one.mentions:
        multi.setdefault(one.truth[m["id"]], set()).add(m["source"])
    assert sum(len(s) > 1 for s in multi.values()) == one.multi_channel


def test_bench_on_a_small_population_reports_scores() -> None:
    result = run_bench(400, seed=5)
    assert result["contacts"] > 400
    assert 0.0 <= result["recall"] <= 1.0
    assert result["precision"] >= 0.95
    assert result["recall"] >= 0.8
