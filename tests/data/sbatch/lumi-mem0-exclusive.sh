#!/bin/bash -l
#SBATCH --job-name=gpt-neox
#SBATCH --partition=standard-g
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=8
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=7
#SBATCH --mem=0
#SBATCH --exclusive
#SBATCH --hint=nomultithread
#SBATCH --time=12:00:00

module load LUMI/23.09 partition/G rocm/5.6.1
srun python train.py
