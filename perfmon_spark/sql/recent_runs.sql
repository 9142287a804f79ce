-- The latest 10 runs: mode, what they read and quarantined, and seconds per stage
SELECT run_id, as_of, status, mode, rows_read_predictions, rows_read_labels, rows_quarantined,
       orphan_labels, late_labels_ignored, metric_rows_written, stage_seconds, message
FROM ${runs}
WHERE monitor = '${monitor}'
ORDER BY started_at DESC
LIMIT 10
