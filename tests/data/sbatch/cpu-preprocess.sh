#!/bin/bash
#SBATCH --job-name=tokenize-corpus
#SBATCH --partition=small
#SBATCH -n 1 -c 32
#SBATCH --mem-per-cpu=2G
#SBATCH --time=2:00:00

srun python tokenize.py --workers $SLURM_CPUS_PER_TASK data/raw data/tokens
