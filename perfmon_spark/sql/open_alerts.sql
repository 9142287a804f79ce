-- Open alerts, the worst level first, then the oldest
SELECT level, action, rule, model_version, slice_key, slice_value, window, metric, value, ci_lower,
       ci_upper, baseline, threshold, opened_window_start, last_window_start
FROM ${perf_alerts}
WHERE monitor = '${monitor}' AND status = 'OPEN'
ORDER BY CASE level WHEN 'CRITICAL' THEN 0 WHEN 'SUSTAINED' THEN 1 ELSE 2 END, opened_window_start,
         model_version, slice_key, slice_value, rule
