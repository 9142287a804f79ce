-- Label coverage by the age of the ${granularity} windows (days from window end to as_of), over versions, against the expected final coverage
SELECT CAST(datediff(as_of, window_end) AS INT) AS age_days,
       count(*) AS windows,
       sum(n_predictions) AS predictions,
       sum(n_labeled) AS labeled,
       sum(n_labeled) / sum(n_predictions) AS label_coverage,
       avg(expected_coverage) AS expected_coverage,
       bool_and(is_mature) AS all_mature
FROM ${perf_metrics}
WHERE monitor = '${monitor}' AND metric = '${metric}' AND window = '${granularity}' AND slice_key = '*'
  AND model_version <> '*' AND n_predictions > 0
GROUP BY 1
ORDER BY 1
