#!/bin/bash
#SBATCH --job-name=lora-finetune
#SBATCH --account=project_465000123
#SBATCH --partition=small-g
#SBATCH --ntasks=1
#SBATCH --gpus-per-task=1
#SBATCH --cpus-per-task=7
#SBATCH --mem-per-gpu=60G
#SBATCH --time=1-12

module load LUMI/23.09 partition/G
srun singularity exec lumi-pytorch-rocm-5.6.1.sif python finetune.py --lora-rank 16
