#!/bin/bash
#SBATCH --job-name=elastic-train
#SBATCH --partition=standard-g
#SBATCH --nodes=2-4
#SBATCH --gpus-per-node=8
#SBATCH --time=1-12:30
#SBATCH --time-min=12:00:00
#SBATCH --signal=B:USR1@300
#SBATCH --requeue
#SBATCH --open-mode=append
#SBATCH --output=train.log

trap 'echo "checkpointing"; touch checkpoint.requested' USR1
srun python elastic_train.py &
wait
