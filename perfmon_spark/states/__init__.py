"""Per-bucket states: sufficient statistics that merge by addition (see DESIGN.md)."""
