"""Reports: reconciliation metrics (metrics.sql), repair-plan exports and the summary."""
