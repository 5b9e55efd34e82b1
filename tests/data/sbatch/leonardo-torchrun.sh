#!/bin/bash
#SBATCH -A EUHPC_A01_001
#SBATCH -p boost_usr_prod
#SBATCH -N 2
#SBATCH --ntasks-per-node=1
#SBATCH --gres=gpu:4
#SBATCH --cpus-per-task=32
#SBATCH --mem=494000
#SBATCH --time=24:00:00
#SBATCH --job-name=mistral-sft
#SBATCH --mail-type=END,FAIL
#SBATCH --mail-user=alice@example.eu

module load profile/deeplrn
module load python/3.11.6--gcc--8.5.0 cuda/12.1 nccl
source $WORK/venvs/sft/bin/activate

export MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
srun torchrun --nnodes=$SLURM_NNODES --nproc-per-node=4 \
    --rdzv-backend=c10d --rdzv-endpoint=$MASTER_ADDR:29500 sft.py
