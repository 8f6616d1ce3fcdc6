"""A deliberately slow image loader, registered as a user registers their own transform.

A job imports it with ``--cfg-options custom_imports.imports=[slow_data_plugin]`` (the dumped
config.py keeps the key, and MMEngine's Config.fromfile imports it in every rank) while this
folder is on the job's PYTHONPATH, and uses it with
``train_dataloader.dataset.pipeline.0.type=SlowLoadImageFromFile``. Every image then costs
``SLOW_DATA_DELAY_S`` seconds (default 2) more to load: in the main process
(``num_workers=0``) that is MMEngine's ``data_time``, a run that waits for its data. 2 s, not a
fraction of one: the demo model's step alone takes ~2 s on the 2 shared cores of a loaded test
machine (0.3 s was 15% of such an iteration, under the input-bound rule's third).
"""

from __future__ import annotations

import os
import time

from mmcv.transforms import LoadImageFromFile
from mmdet.registry import TRANSFORMS


@TRANSFORMS.register_module()
class SlowLoadImageFromFile(LoadImageFromFile):
    """mmcv's LoadImageFromFile, after a sleep: a slow disk or network file system, on purpose."""

    def transform(self, results: dict) -> dict | None:
        time.sleep(float(os.environ.get("SLOW_DATA_DELAY_S", "2")))
        return super().transform(results)
