#!/bin/bash
#SBATCH --job-name=uneven
#SBATCH --nodes=3
#SBATCH --gpus=8
srun python job.py
