"""A user's own COCO-format detection data: where it is (layout.py), what is in it and what mmdet
would make of it (coco_check.py), and the config it sets (config.py). Pure Python: it reads the
annotation files with orjson and stats the images, so it runs before any training interpreter."""
