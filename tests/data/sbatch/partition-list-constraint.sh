#!/bin/bash
#SBATCH --job-name=eval-harness
#SBATCH -p small-g,standard-g
#SBATCH -C mi250x
#SBATCH --gpus-per-node=2
#SBATCH --time=45:00
echo "evaluating on $SLURM_JOB_PARTITION"
#SBATCH --gpus-per-node=8
python -m lm_eval --model hf --tasks hellaswag
