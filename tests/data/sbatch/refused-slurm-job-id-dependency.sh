#!/bin/bash
#SBATCH --job-name=after-slurm-job
#SBATCH --dependency=afterok:4815162
python job.py
