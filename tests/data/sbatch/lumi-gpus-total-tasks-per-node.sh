#!/bin/bash -l
#SBATCH --job-name=llm-inference-node
#SBATCH --account=project_465000123
#SBATCH --partition=small-g
#SBATCH --gpus=8
#SBATCH --ntasks-per-node=8
#SBATCH --cpus-per-task=7
#SBATCH --mem-per-gpu=60G
#SBATCH --time=3:00:00

module load LUMI/23.09 partition/G
export SINGULARITYENV_HIP_VISIBLE_DEVICES=0,1,2,3,4,5,6,7
srun singularity exec vllm-rocm.sif python serve_batch.py --tensor-parallel-size 8
