"""The sentinel: a small process started beside every job that follows its run dir while nobody
watches, writes what happens to ``<run dir>/events.jsonl`` (events.py) and sends it to the
user's notification targets (notify.py). ``python -m launcher.sentinel`` runs it (watcher.py);
``presence.py`` says whether a job's sentinel is still there."""
