#!/bin/bash
#SBATCH --job-name=ddp-resnet
#SBATCH --nodes=2
#SBATCH --ntasks=8
#SBATCH --gpus-per-task=1
#SBATCH --cpus-per-task=6
#SBATCH --mem-per-cpu=4G
#SBATCH --time=90

srun python ddp_resnet.py
