"""What runs inside the training interpreter (torch, mmcv, mmdet): the train entry, environment inspection, synthetic data, doctor."""
