#!/bin/bash
#SBATCH --job-name=seed-sweep
#SBATCH --array=1-99:2
#SBATCH --nodes=1
#SBATCH --gres=gpu:1
#SBATCH --mem=32G
#SBATCH --time=03:00:00
#SBATCH --output=sweep/%A/%a.out
#SBATCH --error=sweep/%A/%a.err

python train.py --seed "$SLURM_ARRAY_TASK_ID"
