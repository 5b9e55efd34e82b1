#!/bin/bash
#SBATCH --job-name=jax-scaling-test
#SBATCH --partition=dev-g
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=8
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=7
#SBATCH --mem=0
#SBATCH --time=30

module load LUMI/23.09 partition/G
export XLA_PYTHON_CLIENT_MEM_FRACTION=0.9
# jax.distributed.initialize() reads the coordinator and process ids from Slurm
srun python -c "import jax; jax.distributed.initialize(); print(jax.device_count())"
