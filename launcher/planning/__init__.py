"""What to run: presets, the lr rule, the reproduction checklist, the plan that launch runs."""
