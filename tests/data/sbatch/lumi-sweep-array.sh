#!/bin/bash
#SBATCH --job-name=lr-sweep
#SBATCH --partition=small-g
#SBATCH --array=0-9%2
#SBATCH --ntasks=1
#SBATCH --gpus-per-node=1
#SBATCH --cpus-per-task=7
#SBATCH --mem=60G
#SBATCH --time=4:00:00
#SBATCH -o logs/%x-%A_%a.out

LRS=(1e-5 2e-5 5e-5 1e-4 2e-4 5e-4 1e-3 2e-3 5e-3 1e-2)
module load LUMI/23.09 partition/G
srun python train.py --lr "${LRS[$SLURM_ARRAY_TASK_ID]}"
