#!/bin/bash
#SBATCH --job-name=vllm-bench
#SBATCH --account=ehpc123
#SBATCH --qos=acc_debug
#SBATCH --nodes=1
#SBATCH --ntasks=1
#SBATCH --gres=gpu:4
#SBATCH --cpus-per-task=80
#SBATCH --time=02:00:00

module load cuda/12.2 nvidia-hpc-sdk
nvidia-smi
python -m vllm.entrypoints.benchmark --tensor-parallel-size 4
