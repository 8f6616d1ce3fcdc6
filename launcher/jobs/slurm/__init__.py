"""SLURM as a job backend: the same plan, lr and checklist as a local launch, run by sbatch/srun.

- script.py    the batch script (mmdet's slurm_train.sh layout: one task per GPU, `--launcher slurm`;
               or one task per gloo worker on CPU), requeue-safe
- cluster.py   the SLURM commands: sbatch, scontrol/squeue/sacct state queries, scancel, sinfo
- state.py     what a SLURM job state means for frcnn-tui (running / pending / succeeded / ...)
- checks.py    checklist items against the cluster (partition, GPUs per node, time limit)
- jobs.py      SlurmBackend (launcher.jobs.backends.Backend): launch / status / stop / resume of a SLURM job
               recorded in the registry
"""
