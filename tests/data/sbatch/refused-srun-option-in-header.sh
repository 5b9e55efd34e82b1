#!/bin/bash
#SBATCH --job-name=bind-test
#SBATCH --nodes=1
#SBATCH --cpu-bind=cores
srun ./a.out
