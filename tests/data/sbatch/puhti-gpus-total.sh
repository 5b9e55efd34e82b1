#!/bin/bash
#SBATCH --job-name=bert-pretrain
#SBATCH --account=project_2001234
#SBATCH --partition=gpu
#SBATCH --ntasks=16
#SBATCH --cpus-per-task=10
#SBATCH --gpus=16
#SBATCH --time=72:00:00

srun python pretrain.py
