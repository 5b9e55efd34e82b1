#!/bin/bash
#SBATCH --job-name=mem-twice
#SBATCH --mem=64G
#SBATCH --mem-per-cpu=2G
python job.py
