"""Reference runs: what a run should look like epoch by epoch, read from logs people already have.

A reference is normalised from any of these sources (one parser module each):

- ``mmengine_workdir``: an MMEngine (mmdet 3.x) work dir, or a frcnn-tui job's run dir;
- ``mmdet2_json``: an MMDetection 2.x ``*.log.json`` (the model zoo's official logs);
- ``text_log``: an MMDetection 2.x or 3.x ``*.log``.

``sources.read_source`` picks the parser, ``store`` keeps references under the state
dir, ``compare`` says whether a run keeps up with one (noise threshold, the
``behind-reference`` alert and its likely causes).
"""
