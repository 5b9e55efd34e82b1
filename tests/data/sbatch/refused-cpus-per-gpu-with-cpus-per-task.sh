#!/bin/bash
#SBATCH --job-name=cpus-twice
#SBATCH --nodes=1
#SBATCH --gres=gpu:4
#SBATCH --cpus-per-gpu=8
#SBATCH --cpus-per-task=32
srun python train.py
