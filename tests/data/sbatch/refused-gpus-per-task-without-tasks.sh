#!/bin/bash
#SBATCH --job-name=ddp-no-ntasks
#SBATCH --partition=boost_usr_prod
#SBATCH --nodes=2
#SBATCH --gpus-per-task=1
#SBATCH --time=01:00:00
srun python ddp.py
