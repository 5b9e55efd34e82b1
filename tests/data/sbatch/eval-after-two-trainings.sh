#!/bin/bash
#SBATCH --job-name=final-eval
#SBATCH --dependency=afterok:job-train01:job-train02
#SBATCH --mail-type=ALL
#SBATCH --gpus=1
#SBATCH --time=0:30

python evaluate.py --checkpoints ckpt/a ckpt/b
