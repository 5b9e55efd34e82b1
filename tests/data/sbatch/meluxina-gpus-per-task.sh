#!/bin/bash -l
#SBATCH --job-name=whisper-finetune
#SBATCH -A p200123
#SBATCH -p gpu
#SBATCH -q default
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=4
#SBATCH --gpus-per-task=1
#SBATCH --cpus-per-task=8
#SBATCH --time=48:00:00

module load Python CUDA
srun python finetune_whisper.py
