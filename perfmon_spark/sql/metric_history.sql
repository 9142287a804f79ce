-- ${metric} over time per version and window length (overall slice), with the level, baseline and threshold of the alert episode covering each window
SELECT m.model_version, m.window, m.window_start, m.window_end, m.value, m.ci_lower, m.ci_upper,
       m.n_labeled, m.label_coverage, m.is_mature, a.rule, a.level AS alert_level, a.baseline, a.threshold
FROM ${perf_metrics} m
LEFT JOIN ${perf_alerts} a
  ON a.monitor = m.monitor AND a.model_version = m.model_version AND a.slice_key = m.slice_key
 AND a.slice_value = m.slice_value AND a.window = m.window AND a.metric = m.metric
 AND m.window_start BETWEEN a.opened_window_start AND a.last_window_start
WHERE m.monitor = '${monitor}' AND m.metric = '${metric}' AND m.slice_key = '*'
QUALIFY row_number() OVER (
  PARTITION BY m.model_version, m.window, m.window_start
  ORDER BY CASE a.level WHEN 'CRITICAL' THEN 0 WHEN 'SUSTAINED' THEN 1 WHEN 'MINOR' THEN 2 ELSE 3 END, a.rule
) = 1
ORDER BY m.model_version, m.window, m.window_start
