auto_scale_lr = dict(base_batch_size=16, enable=True)
param_scheduler = [
    dict(begin=0, by_epoch=False, end=500, start_factor=0.001, type='LinearLR'),
    dict(begin=0, by_epoch=True, end=2, gamma=0.1, milestones=[1], type='MultiStepLR'),
]
train_cfg = dict(max_epochs=2, type='EpochBasedTrainLoop', val_interval=1)
work_dir = '/runs/demo'
