"""Kayenta-compatible automated canary analysis judge (pure Python: numpy, scipy; no Airflow).

One module per stage of Kayenta's NetflixACAJudge pipeline:

* :mod:`.models` - parse and validate Kayenta JSON (canary config, MetricSetPairs, thresholds);
  :class:`~.models.RequestError` carries the JSON path of a bad field.
* :mod:`.preprocess` - NaN strategies, IQR outlier removal, descriptive statistics.
* :mod:`.mannwhitney` - the R ``wilcox.test`` interval with a faithful ``zeroin`` port, fast.
* :mod:`.classifier` - Pass/High/Low/Nodata/NodataFailMetric/Error per metric, critical escalation.
* :mod:`.scorer` / :mod:`.score_classifier` - group weights, critical and 50 % no-data rules, thresholds.
* :mod:`.explain` - one-line explanations; :mod:`.judge` - the entry points ``judge``/``judge_request``.
* :mod:`.configs` - resolve a canary config inline, from a file, or by name (packaged golden signals).
* :mod:`.reference` - the slow straightforward interval port, for tests and ``bench/judge.py`` only.

Importing this package is cheap; import :mod:`.judge` to judge.
"""
