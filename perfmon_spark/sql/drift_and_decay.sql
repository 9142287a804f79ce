-- Each slice's latest classified window per rule metric: did performance decay, and did the inputs drift with it
SELECT model_version, slice_key, slice_value, metric, window, window_start, value, baseline, class,
       top_feature, top_feature_psi, score_psi
FROM ${drift_performance}
WHERE monitor = '${monitor}' AND class <> 'UNKNOWN'
QUALIFY row_number() OVER (PARTITION BY model_version, slice_key, slice_value, metric, window ORDER BY window_start DESC) = 1
ORDER BY CASE class WHEN 'DRIFT_AND_DECAY' THEN 0 WHEN 'DECAY_WITHOUT_DRIFT' THEN 1 ELSE 2 END, model_version, slice_key, slice_value
