-- Degradation leaderboard: each slice's latest ${window} ${metric} against its version's overall value in the same window, the worst gap first
WITH latest AS (
  SELECT * FROM ${perf_metrics}
  WHERE monitor = '${monitor}' AND metric = '${metric}' AND window = '${window}' AND value IS NOT NULL
  QUALIFY window_start = max(window_start) OVER (PARTITION BY model_version)
)
SELECT s.model_version, s.slice_key, s.slice_value, s.window_start, s.window_end, s.value,
       s.ci_lower, s.ci_upper, o.value AS overall_value, s.value - o.value AS gap, s.n_labeled, s.is_mature
FROM latest s
JOIN latest o ON o.model_version = s.model_version AND o.slice_key = '*'
WHERE s.slice_key <> '*' AND s.n_labeled >= ${min_labeled}
ORDER BY gap ${worse_first}, s.model_version, s.slice_key, s.slice_value
LIMIT 20
