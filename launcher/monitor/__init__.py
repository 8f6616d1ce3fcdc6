"""What a job is doing: following its logs, MMEngine scalars, text-log events, metrics and alerts."""
