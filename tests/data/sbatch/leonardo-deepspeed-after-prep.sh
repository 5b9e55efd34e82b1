#!/bin/bash
#SBATCH --job-name=deepspeed-zero3
#SBATCH --partition=boost_usr_prod
#SBATCH --nodes=4
#SBATCH --gpus-per-node=4
#SBATCH --ntasks-per-node=4
#SBATCH --cpus-per-task=8
#SBATCH --mem-per-gpu=100G
#SBATCH --time=1-00:00:00
#SBATCH --dependency=afterok:job-prep01
#SBATCH --kill-on-invalid-dep=yes

module load cuda/12.1 nccl
export MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
srun python -u train.py --deepspeed ds_zero3.json
