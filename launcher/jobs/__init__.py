"""Where and how a job runs: spawning, the job registry, job summaries."""
