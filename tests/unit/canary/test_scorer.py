"""Scoring: group scores, weights (including weights that do not sum to 100), muted metrics,
critical failure, the 50 % Nodata rule, no-data groups, half-up rounding."""

from __future__ import annotations

import pytest
from airflow_delivery.canary.scorer import ScoredMetric, group_scores, round_half_up, score


def m(
    label: str, *groups: str, critical: bool = False, muted: bool = False, reason: str | None = None
) -> ScoredMetric:
    return ScoredMetric(label, reason, groups, critical, muted)


def test_group_score_counts_pass_high_low_and_nodatafailmetric_only():
    (group,) = group_scores(
        [m("Pass", "g"), m("High", "g"), m("NodataFailMetric", "g"), m("Nodata", "g"), m("Error", "g")]
    )
    assert group.score == pytest.approx(100 / 3)
    assert not group.no_data


def test_a_metric_counts_in_every_one_of_its_groups():
    scores = {g.name: g.score for g in group_scores([m("Pass", "a", "b"), m("High", "b")])}
    assert scores == {"a": 100.0, "b": 50.0}


def test_equal_share_when_no_weights_are_configured():
    result = score([m("Pass", "a"), m("High", "b"), m("Pass", "c"), m("Pass", "d")], {})
    assert result.summary_score == 75.0
    assert result.reason is None


def test_configured_weights():
    result = score([m("Pass", "a"), m("High", "b")], {"a": 70, "b": 30})
    assert result.summary_score == 70.0


def test_unweighted_groups_share_the_leftover():
    # a=50 configured; b and c share the other 50 (25 each): 50 + 0 + 25
    result = score([m("Pass", "a"), m("High", "b"), m("Pass", "c")], {"a": 50})
    assert result.summary_score == 75.0
    assert result.weights == {"a": 50, "b": 25.0, "c": 25.0}


def test_weights_that_do_not_sum_to_100_are_not_renormalised():
    assert score([m("Pass", "a"), m("Pass", "b")], {"a": 30, "b": 30}).summary_score == 60.0
    assert score([m("Pass", "a"), m("Pass", "b")], {"a": 80, "b": 70}).summary_score == 150.0


def test_weight_of_a_group_without_results_is_lost():
    assert score([m("Pass", "a")], {"a": 60, "missing": 40}).summary_score == 60.0


def test_a_group_with_only_nodata_or_error_counts_as_100():
    result = score(
        [m("High", "a"), m("Error", "b"), m("Pass", "c"), m("Pass", "c")], {"a": 50, "b": 25, "c": 25}
    )
    assert [g.no_data for g in result.group_scores] == [False, True, False]
    assert result.summary_score == 50.0


def test_critical_failure_zeroes_the_score_with_the_first_reason():
    result = score(
        [
            m("Pass", "a"),
            m("High", "a", critical=True, reason="The metric x was classified as High (Critical)"),
            m("Low", "a", critical=True, reason="second"),
        ],
        {},
    )
    assert result.summary_score == 0.0
    assert result.reason == "Canary Failed: The metric x was classified as High (Critical)"


def test_critical_nodata_fails_the_canary():
    result = score(
        [m("Pass", "a"), m("Pass", "a"), m("Nodata", "a", critical=True, reason="Missing data for x")], {}
    )
    assert (result.summary_score, result.reason) == (0.0, "Canary Failed: Missing data for x")


@pytest.mark.parametrize(
    ("labels", "fails"),
    [
        (["Nodata", "Pass"], True),
        (["Nodata", "Pass", "Pass"], False),
        (["Nodata", "NodataFailMetric", "Pass"], False),
    ],
)
def test_half_or_more_nodata_fails(labels, fails):
    result = score([m(label, "a") for label in labels], {})
    assert (
        result.summary_score == 0.0 and result.reason == "Canary Failed: 50% or more metrics returned NODATA"
    ) is fails


def test_muted_metrics_are_not_scored():
    results = [
        m("Pass", "a"),
        m("High", "a", muted=True),
        m("High", "b", muted=True, critical=True, reason="r"),
    ]
    scored = score(results, {})
    assert scored.summary_score == 100.0
    assert [g.name for g in scored.group_scores] == ["a"]
    # muted Nodata does not count towards the 50 % rule either
    assert score([m("Pass", "a"), m("Nodata", "a", muted=True)], {}).summary_score == 100.0


def test_no_results_scores_zero():
    assert score([], {}).summary_score == 0.0


@pytest.mark.parametrize(
    ("raw", "rounded"), [(66.665, 66.67), (66.664999, 66.66), (0.125, 0.13), (2.675, 2.68), (100 / 3, 33.33)]
)
def test_summary_rounds_half_up_to_two_decimals(raw, rounded):
    assert round_half_up(raw) == rounded


def test_summary_score_is_rounded():
    # thirds: 2 of 3 pass -> 66.666... -> 66.67
    assert score([m("Pass", "a"), m("Pass", "a"), m("High", "a")], {}).summary_score == 66.67
