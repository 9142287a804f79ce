"""Windows: ``finalise`` computes every window's metrics from bucket states (pure pandas/numpy);
``spark`` runs it per slice over ``perf_stats``. Import from the module you need: this package
imports neither, so the pure half never loads Spark."""
