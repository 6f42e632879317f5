"""Evidence: the validation suite, its report, the drills and the dashboard snapshots."""
