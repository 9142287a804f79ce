-- Each model version's status and action, with the retrain decision of the run that set them
-- (an INACTIVE version has none: its last decision, from while it was active, is not current)
SELECT s.model_version, s.status, s.action, s.rollback_target, s.last_prediction_date,
       d.decision, d.reasons, d.new_labels_since_last, s.as_of
FROM ${model_status} s
LEFT JOIN (
  SELECT * FROM ${retrain_decisions} WHERE monitor = '${monitor}'
) d ON d.model_version = s.model_version AND d.as_of = s.as_of
WHERE s.monitor = '${monitor}'
ORDER BY s.model_version
