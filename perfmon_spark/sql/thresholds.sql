-- Every rule's windows (overall slice) as the alerting stage decided them: value and standard error, baseline, extra variance, each level's threshold, p, q and the level reached
SELECT rule, metric, model_version, window, window_start, window_end, value, std_error,
       baseline, baseline_std_error, extra_variance,
       minor_threshold, sustained_threshold, critical_threshold,
       p_value, series_p_value, q_value, level
FROM ${rule_windows}
WHERE monitor = '${monitor}' AND slice_key = '*'
ORDER BY rule, model_version, window, window_start
