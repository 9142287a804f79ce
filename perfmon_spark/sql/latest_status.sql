-- Each model version's status and action, with its latest retrain decision
SELECT s.model_version, s.status, s.action, s.rollback_target, s.last_prediction_date,
       d.decision, d.reasons, d.new_labels_since_last, s.as_of
FROM ${model_status} s
LEFT JOIN (
  SELECT * FROM ${retrain_decisions} WHERE monitor = '${monitor}'
  QUALIFY row_number() OVER (PARTITION BY model_version ORDER BY as_of DESC, run_id DESC) = 1
) d ON d.model_version = s.model_version
WHERE s.monitor = '${monitor}'
ORDER BY s.model_version
