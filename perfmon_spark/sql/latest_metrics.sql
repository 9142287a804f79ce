-- Every metric's latest ${window} window per model version (overall slice), with its interval, standard error and maturity
SELECT model_version, metric, window_start, window_end, value, ci_lower, ci_upper, std_error, n_predictions,
       n_labeled, label_coverage, is_mature
FROM ${perf_metrics}
WHERE monitor = '${monitor}' AND window = '${window}' AND slice_key = '*'
QUALIFY window_end = max(window_end) OVER (PARTITION BY model_version)
ORDER BY model_version, metric
