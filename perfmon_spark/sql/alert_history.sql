-- The latest 50 alert events, and whether each reached its sinks
SELECT as_of, event, level, rule, model_version, slice_key, slice_value, window, delivery, delivery_attempts
FROM ${alert_events}
WHERE monitor = '${monitor}'
ORDER BY as_of DESC, event_id
LIMIT 50
