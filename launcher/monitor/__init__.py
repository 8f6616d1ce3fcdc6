"""What a job is doing: following its logs, MMEngine scalars, text-log events, metrics and alerts."""

# The stall rule's slack by default (alerts.StallRule): the silence allowed beyond three of a run's
# usual log intervals; a launch sets its own (--stall-grace, plan.json stall_grace_s). Here, not in
# alerts.py, so the CLI's help can name it at start-up without importing the monitor's log parsers.
STALL_GRACE_S = 30.0
