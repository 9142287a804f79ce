"""Alerting: baselines, rule evaluation over metric histories, the alert lifecycle and its events,
and notification delivery."""
