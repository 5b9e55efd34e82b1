#!/bin/bash
#SBATCH --job-name=forever
#SBATCH --partition=standard-g
#SBATCH --nodes=1
#SBATCH -t 0
srun python serve.py
