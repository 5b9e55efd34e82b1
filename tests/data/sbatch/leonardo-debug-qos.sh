#!/bin/bash
#SBATCH --job-name=smoke-test
#SBATCH --account=EUHPC_A01_001
#SBATCH --partition=boost_usr_prod
#SBATCH --qos=boost_qos_dbg
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=2
#SBATCH --cpus-per-task=8
#SBATCH --gres=gpu:a100:2
#SBATCH --mem=120G
#SBATCH --time=00:30:00

module load cuda/12.1
srun python -m pytest tests/gpu -x
