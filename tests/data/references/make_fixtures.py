"""Writes the reference-log fixtures in this folder (run it to regenerate them; the output is committed).

The formats follow /work/shared/reference/mmdet-log-formats.md and the loggers' source:
mmcv 1.x ``TextLoggerHook`` (``_log_info``: ``Epoch [E][I/N]\\tlr: %.3e, eta: <timedelta>,
time: %.3f, data_time: %.3f, memory: N, <key>: %.4f, ...``; ``_dump_log``: the runner's
meta first, then the log dict with floats rounded to 5 places), mmdet 2.x ``collect_env`` /
``tools/train.py`` (environment block, ``Distributed training``, ``Config:``, ``Set random
seed``), and MMEngine 0.10.7 ``Runner._log_env`` / ``LogProcessor`` / ``LocalVisBackend``.
The numbers are invented along the spread that file describes (.19 -> .28 by epoch 4,
.36 after the first lr step, about .374 at the end); the logging interval is 200 (not the
usual 50) to keep the files small.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
MAPS_8GPU = [0.207, 0.247, 0.266, 0.279, 0.285, 0.289, 0.293, 0.296, 0.358, 0.362, 0.373, 0.374]
MAPS_4GPU_LR02 = [0.196, 0.236, 0.255, 0.268, 0.274, 0.279, 0.282, 0.286, 0.349, 0.353, 0.363, 0.364]
INTERVAL = 200

ENV_2X = """sys.platform: linux
Python: 3.7.6 (default, Jan  8 2020, 19:59:22) [GCC 7.3.0]
CUDA available: True
GPU {ids}: Tesla V100-SXM2-32GB
CUDA_HOME: /usr/local/cuda-10.1
NVCC: Cuda compilation tools, release 10.1, V10.1.243
GCC: gcc (GCC) 5.4.0
PyTorch: 1.4.0
PyTorch compiling details: PyTorch built with:
  - GCC 7.3
  - Intel(R) Math Kernel Library Version 2019.0.4 Product Build 20190411 for Intel(R) 64 architecture applications
  - Intel(R) MKL-DNN v0.21.1 (Git Hash 7d2fd500bc78936d1d648ca713b901012f470dbc)
  - OpenMP 201511 (a.k.a. OpenMP 4.5)
  - NNPACK is enabled
  - CUDA Runtime 10.1
  - NVCC architecture flags: -gencode;arch=compute_37,code=sm_37;-gencode;arch=compute_70,code=sm_70
  - CuDNN 7.6.3
  - Magma 2.5.1
  - Build settings: BLAS=MKL, BUILD_NAMEDTENSOR=OFF, CXX_FLAGS= -Wno-deprecated -fvisibility-inlines-hidden

TorchVision: 0.5.0
OpenCV: {opencv}
MMCV: {mmcv}
MMCV Compiler: GCC 7.3
MMCV CUDA Compiler: 10.1
MMDetection: {mmdet}"""

CONFIG_2X = """model = dict(
    type='FasterRCNN',
    pretrained='torchvision://resnet50',
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        style='pytorch'),
    neck=dict(
        type='FPN',
        in_channels=[256, 512, 1024, 2048],
        out_channels=256,
        num_outs=5),
    roi_head=dict(
        type='StandardRoIHead',
        bbox_head=dict(
            type='Shared2FCBBoxHead',
            num_classes=80,
            loss_cls=dict(
                type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
            loss_bbox=dict(type='L1Loss', loss_weight=1.0))),
    train_cfg=dict(
        rpn_proposal=dict(
            nms_pre=2000,
            max_per_img=1000,
            nms=dict(type='nms', iou_threshold=0.7),
            min_bbox_size=0)),
    test_cfg=dict(
        rcnn=dict(
            score_thr=0.05,
            nms=dict(type='nms', iou_threshold=0.5),
            max_per_img=100)))
dataset_type = 'CocoDataset'
data_root = 'data/coco/'
img_norm_cfg = dict(
    mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
data = dict(
    samples_per_gpu=2,
    workers_per_gpu=2,
    train=dict(
        type='CocoDataset',
        ann_file='data/coco/annotations/instances_train2017.json',
        img_prefix='data/coco/train2017/'),
    val=dict(
        type='CocoDataset',
        ann_file='data/coco/annotations/instances_val2017.json',
        img_prefix='data/coco/val2017/'),
    test=dict(
        type='CocoDataset',
        ann_file='data/coco/annotations/instances_val2017.json',
        img_prefix='data/coco/val2017/'))
evaluation = dict(interval=1, metric='bbox')
optimizer = dict(type='SGD', lr={lr}, momentum=0.9, weight_decay=0.0001)
optimizer_config = dict(grad_clip=None)
lr_config = dict(
    policy='step',
    warmup='linear',
    warmup_iters=500,
    warmup_ratio=0.001,
    step=[8, 11])
runner = dict(type='EpochBasedRunner', max_epochs=12)
checkpoint_config = dict(interval=1)
log_config = dict(interval=200, hooks=[dict(type='TextLoggerHook')])
custom_hooks = [dict(type='NumClassCheckHook')]
dist_params = dict(backend='nccl')
log_level = 'INFO'
load_from = None
resume_from = None
workflow = [('train', 1)]
auto_scale_lr = dict(enable=False, base_batch_size=16)
work_dir = './work_dirs/faster_rcnn_r50_fpn_1x_coco'
gpu_ids = range(0, {world})"""


def _loss(frac: float, rng: random.Random) -> dict[str, float]:
    base = 0.55 + 1.35 * math.exp(-9 * frac) - (0.08 if frac > 8 / 12 else 0) - (0.02 if frac > 11 / 12 else 0)
    noise = 1 + rng.uniform(-0.03, 0.03)
    parts = {"loss_rpn_cls": 0.12, "loss_rpn_bbox": 0.07, "loss_cls": 0.46, "loss_bbox": 0.35}
    out = {k: base * w * noise for k, w in parts.items()}
    out["acc"] = 86.0 + 8.0 * (1 - math.exp(-6 * frac)) + rng.uniform(-0.5, 0.5)
    out["loss"] = sum(v for k, v in out.items() if k.startswith("loss"))
    return out


def _lr(base: float, epoch: int, it: int, per_epoch: int) -> float:
    global_it = (epoch - 1) * per_epoch + it
    warm = min(1.0, 0.001 + (1 - 0.001) * global_it / 500)
    return base * warm * (0.1 if epoch > 8 else 1) * (0.1 if epoch > 11 else 1)


def _copypaste(m: float) -> dict[str, float]:
    return {"bbox_mAP": m, "bbox_mAP_50": round(m * 1.55, 3), "bbox_mAP_75": round(m * 1.08, 3),
            "bbox_mAP_s": round(m * 0.57, 3), "bbox_mAP_m": round(m * 1.1, 3), "bbox_mAP_l": round(m * 1.28, 3)}


def _coco_table(m: dict[str, float]) -> list[str]:
    rows = [("Precision", "AP", "0.50:0.95", "   all", 100, m["bbox_mAP"]),
            ("Precision", "AP", "0.50     ", "   all", 1000, m["bbox_mAP_50"]),
            ("Precision", "AP", "0.75     ", "   all", 1000, m["bbox_mAP_75"]),
            ("Precision", "AP", "0.50:0.95", " small", 1000, m["bbox_mAP_s"]),
            ("Precision", "AP", "0.50:0.95", "medium", 1000, m["bbox_mAP_m"]),
            ("Precision", "AP", "0.50:0.95", " large", 1000, m["bbox_mAP_l"])]
    return [f" Average {p:<9} ({a}) @[ IoU={iou} | area={area} | maxDets={d:>4} ] = {v:.3f}"
            for p, a, iou, area, d, v in rows]


def write_mmdet2(world: int, lr: float, maps: list[float], stamp: str, *, with_json: bool, with_text: bool,
                 out: Path, seed: int = 0) -> None:
    rng = random.Random(world * 1000 + int(lr * 1e4))
    per_epoch = math.ceil(117_266 / (world * 2))
    ids = ",".join(str(i) for i in range(world))
    env = ENV_2X.format(ids=ids, opencv="4.2.0", mmcv="0.5.9", mmdet="2.0.0+8b7bd1c")
    config = CONFIG_2X.format(lr=lr, world=world)
    clock = dt.datetime.strptime(stamp, "%Y%m%d_%H%M%S")
    it_time = 0.21 * 8 / world
    json_lines = [json.dumps({"env_info": env, "config": config, "seed": seed,
                              "exp_name": "faster_rcnn_r50_fpn_1x_coco.py"})]
    text: list[str] = []

    def log(msg: str) -> None:
        text.append(f"{clock:%Y-%m-%d %H:%M:%S},{rng.randint(0, 999):03d} - mmdet - INFO - {msg}")

    dash = "-" * 60
    log(f"Environment info:\n{dash}\n{env}\n{dash}\n")
    log("Distributed training: True")
    log(f"Config:\n{config}")
    log(f"Set random seed to {seed}, deterministic: False")
    log("Start running, host: user@node-1, work_dir: /work_dirs/faster_rcnn_r50_fpn_1x_coco")
    log("workflow: [('train', 1)], max: 12 epochs")
    total = per_epoch * 12
    for epoch in range(1, 13):
        for it in range(INTERVAL, per_epoch + 1, INTERVAL):
            clock += dt.timedelta(seconds=it_time * INTERVAL)
            frac = ((epoch - 1) * per_epoch + it) / total
            losses = _loss(frac, rng)
            cur_lr = _lr(lr, epoch, it, per_epoch)
            data_time, t = 0.02 + rng.uniform(0, 0.01), it_time + rng.uniform(-0.01, 0.01)
            eta = dt.timedelta(seconds=int(t * (total - (epoch - 1) * per_epoch - it)))
            items = ", ".join(f"{k}: {losses[k]:.4f}" for k in
                              ("loss_rpn_cls", "loss_rpn_bbox", "loss_cls", "acc", "loss_bbox", "loss"))
            log(f"Epoch [{epoch}][{it}/{per_epoch}]\tlr: {cur_lr:.3e}, eta: {eta}, time: {t:.3f}, "
                f"data_time: {data_time:.3f}, memory: 3767, {items}")
            rec = {"mode": "train", "epoch": epoch, "iter": it, "lr": round(cur_lr, 5), "memory": 3767,
                   "data_time": round(data_time, 5),
                   **{k: round(losses[k], 5) for k in ("loss_rpn_cls", "loss_rpn_bbox", "loss_cls", "acc",
                                                       "loss_bbox", "loss")},
                   "time": round(t, 5)}
            json_lines.append(json.dumps(rec))
        log(f"Saving checkpoint at {epoch} epochs")
        clock += dt.timedelta(seconds=420)
        m = _copypaste(maps[epoch - 1])
        copy = " ".join(f"{m[k]:.3f}" for k in m)
        text.append("Evaluating bbox...\nLoading and preparing results...\nDONE (t=1.02s)\ncreating index...\n"
                    "index created!\nRunning per image evaluation...\nEvaluate annotation type *bbox*\n"
                    "DONE (t=35.12s).\nAccumulating evaluation results...\nDONE (t=6.81s).\n"
                    + "\n".join(_coco_table(m)))
        log(f"Epoch(val) [{epoch}][{per_epoch}]\t" + ", ".join(f"{k}: {v:.4f}" for k, v in m.items())
            + f", bbox_mAP_copypaste: {copy}")
        json_lines.append(json.dumps({"mode": "val", "epoch": epoch, "iter": per_epoch,
                                      "lr": round(_lr(lr, epoch, per_epoch, per_epoch), 5), **m,
                                      "bbox_mAP_copypaste": copy}))
    out.mkdir(parents=True, exist_ok=True)
    if with_json:
        (out / f"{stamp}.log.json").write_text("\n".join(json_lines) + "\n")
    if with_text:
        (out / f"{stamp}.log").write_text("\n".join(text) + "\n")


ENV_3X_HEAD = """
------------------------------------------------------------
System environment:
    sys.platform: linux
    Python: 3.10.13 (main, Sep 11 2023, 13:44:35) [GCC 11.2.0]
    CUDA available: True
    MUSA available: False
    numpy_random_seed: {seed}
    GPU {ids}: NVIDIA A100-SXM4-80GB
    CUDA_HOME: /usr/local/cuda
    NVCC: Cuda compilation tools, release 12.1, V12.1.105
    GCC: gcc (GCC) 9.4.0
    PyTorch: 2.1.2+cu121
    PyTorch compiling details: PyTorch built with:
  - GCC 9.3
  - C++ Version: 201703
  - Intel(R) oneAPI Math Kernel Library Version 2023.1-Product Build 20230303 for Intel(R) 64 architecture applications
  - CUDA Runtime 12.1
  - CuDNN 8.9.2

    TorchVision: 0.16.2+cu121
    OpenCV: 4.9.0
    MMEngine: 0.10.3

Runtime environment:
    cudnn_benchmark: False
    mp_cfg: {{'mp_start_method': 'fork', 'opencv_num_threads': 0}}
    dist_cfg: {{'backend': 'nccl'}}
    seed: {seed}
    Distributed launcher: pytorch
    Distributed training: True
    GPU number: {world}
------------------------------------------------------------
"""

CONFIG_3X = """auto_scale_lr = dict(base_batch_size=16, enable=False)
data_root = 'data/coco/'
dataset_type = 'CocoDataset'
default_hooks = dict(
    checkpoint=dict(interval=1, type='CheckpointHook'),
    logger=dict(interval=200, type='LoggerHook'),
    param_scheduler=dict(type='ParamSchedulerHook'),
    timer=dict(type='IterTimerHook'))
model = dict(
    backbone=dict(
        depth=50,
        init_cfg=dict(checkpoint='torchvision://resnet50', type='Pretrained'),
        type='ResNet'),
    train_cfg=dict(
        rcnn=dict(pos_weight=-1),
        rpn=dict(allowed_border=-1, pos_weight=-1)),
    type='FasterRCNN')
optim_wrapper = dict(
    optimizer=dict(lr={lr}, momentum=0.9, type='SGD', weight_decay=0.0001),
    type='OptimWrapper')
param_scheduler = [
    dict(
        begin=0, by_epoch=False, end=500, start_factor=0.001,
        type='LinearLR'),
    dict(
        begin=0,
        by_epoch=True,
        end=12,
        gamma=0.1,
        milestones=[
            8,
            11,
        ],
        type='MultiStepLR'),
]
train_cfg = dict(max_epochs=12, type='EpochBasedTrainLoop', val_interval=1)
train_dataloader = dict(
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    batch_size=2,
    dataset=dict(
        ann_file='annotations/instances_train2017.json',
        data_prefix=dict(img='train2017/'),
        data_root='data/coco/',
        type='CocoDataset'),
    num_workers=2)
val_evaluator = dict(
    ann_file='data/coco/annotations/instances_val2017.json',
    metric='bbox',
    type='CocoMetric')
work_dir = './work_dirs/faster-rcnn_r50_fpn_1x_coco'
"""


def _mmengine_train_line(epoch: int, it: int, per_epoch: int, lr: float, cur_lr: float, t: float, data_time: float,
                         eta: dt.timedelta, losses: dict) -> str:
    epoch_str = f"[{epoch}]".rjust(len("12") + 3)
    items = "  ".join(f"{k}: {losses[k]:.4f}" for k in ("loss", "loss_rpn_cls", "loss_rpn_bbox", "loss_cls", "acc",
                                                         "loss_bbox"))
    return (f"Epoch(train){epoch_str}[{str(it).rjust(len(str(per_epoch)))}/{per_epoch}]  base_lr: {lr:.4e} "
            f"lr: {cur_lr:.4e}  eta: {eta}  time: {t:.4f}  data_time: {data_time:.4f}  memory: 3425  "
            f"grad_norm: {2.5 + losses['loss']:.4f}  {items}")


def write_mmengine_run(out: Path, stamps: list[tuple[str, range]], world: int, lr: float, maps: list[float],
                       *, scalars: bool, seed: int = 1234, header: bool = True) -> None:
    """One MMEngine work dir; STAMPS: (timestamp folder, epochs it trains) for a start and its resumes."""
    rng = random.Random(world + int(lr * 1e4))
    per_epoch = math.ceil(117_266 / (world * 2))
    total = per_epoch * 12
    ids = ",".join(str(i) for i in range(world))
    for stamp, epochs in stamps:
        clock = dt.datetime.strptime(stamp, "%Y%m%d_%H%M%S")
        folder = out / stamp
        (folder / "vis_data").mkdir(parents=True, exist_ok=True)
        text, rows = [], []

        def log(msg: str) -> None:
            text.append(f"{clock:%Y/%m/%d %H:%M:%S} - mmengine - INFO - {msg}")

        if header:
            log(ENV_3X_HEAD.format(seed=seed, ids=ids, world=world))
            log("Config:\n" + CONFIG_3X.format(lr=lr))
        for epoch in epochs:
            for it in range(INTERVAL, per_epoch + 1, INTERVAL):
                clock += dt.timedelta(seconds=0.2 * INTERVAL)
                step = (epoch - 1) * per_epoch + it
                losses = _loss(step / total, rng)
                cur_lr = _lr(lr, epoch, it, per_epoch)
                t, data_time = 0.2 + rng.uniform(-0.01, 0.01), 0.01 + rng.uniform(0, 0.005)
                eta = dt.timedelta(seconds=int(t * (total - step)))
                log(_mmengine_train_line(epoch, it, per_epoch, lr, cur_lr, t, data_time, eta, losses))
                rows.append({"lr": cur_lr, "data_time": data_time, "grad_norm": 2.5 + losses["loss"],
                             **{k: losses[k] for k in ("loss", "loss_rpn_cls", "loss_rpn_bbox", "loss_cls", "acc",
                                                       "loss_bbox")},
                             "time": t, "epoch": epoch, "iter": step, "memory": 3425, "step": step})
            log(f"Exp name: faster-rcnn_r50_fpn_1x_coco_{stamps[0][0]}")
            log(f"Saving checkpoint at {epoch} epochs")
            clock += dt.timedelta(seconds=300)
            m = _copypaste(maps[epoch - 1])
            log("Evaluating bbox...")
            log("bbox_mAP_copypaste: " + " ".join(f"{v:.3f}" for v in m.values()))
            log(f"Epoch(val) [{epoch}][625/625]    " + "  ".join(f"coco/{k}: {v:.4f}" for k, v in m.items())
                + "  data_time: 0.0031  time: 0.0642")
            rows.append({**{f"coco/{k}": v for k, v in m.items()}, "data_time": 0.0031, "time": 0.0642,
                         "step": epoch})
        (folder / f"{stamp}.log").write_text("\n".join(text) + "\n")
        if scalars:
            (folder / "vis_data" / "scalars.json").write_text("".join(json.dumps(r) + "\n" for r in rows))


def main() -> None:
    # The model zoo's official R50-FPN 1x log name (8 GPUs x 2 images, lr 0.02).
    write_mmdet2(8, 0.02, MAPS_8GPU, "20200130_204655", with_json=True, with_text=False, out=HERE / "zoo")
    (HERE / "zoo" / "20200130_204655.log.json").rename(
        HERE / "zoo" / "faster_rcnn_r50_fpn_1x_coco_20200130_204655.log.json")
    # A 2.x work dir holding only its text log: 4 GPUs with the unscaled lr 0.02.
    write_mmdet2(4, 0.02, MAPS_4GPU_LR02, "20221012_101500", with_json=False, with_text=True,
                 out=HERE / "mmdet2_workdir")
    # A single mmdet 3.x text log (8 GPUs, lr 0.02), no scalars.
    write_mmengine_run(HERE / "mmdet3_text", [("20240130_204655", range(1, 13))], 8, 0.02, MAPS_8GPU,
                       scalars=False)
    # An MMEngine work dir stopped after epoch 3 and resumed: two timestamp folders.
    write_mmengine_run(HERE / "mmengine_workdir", [("20240201_090000", range(1, 4)),
                                                   ("20240201_150000", range(4, 13))], 8, 0.02,
                       [m + 0.002 for m in MAPS_8GPU], scalars=True)


if __name__ == "__main__":
    main()
