-- Each challenger against the champion in its latest window of each length: the difference on the champion's mix, its interval, the overall difference and the verdict
SELECT challenger, champion, metric, window, window_start, window_end, difference, ci_lower, ci_upper,
       unadjusted_difference, n_labeled_champion, n_labeled_challenger, verdict
FROM ${version_comparison}
WHERE monitor = '${monitor}'
QUALIFY window_start = max(window_start) OVER (PARTITION BY challenger, metric, window)
ORDER BY challenger, metric, window
