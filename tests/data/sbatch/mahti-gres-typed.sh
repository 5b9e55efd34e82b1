#!/bin/bash
#SBATCH --job-name=vit-large
#SBATCH --account=project_2001234
#SBATCH --partition=gpumedium
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=4
#SBATCH --cpus-per-task=32
#SBATCH --gres=gpu:a100:4
#SBATCH --time=36:00:00

module load pytorch/2.2
srun python train_vit.py
