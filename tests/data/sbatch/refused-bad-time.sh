#!/bin/bash
#SBATCH --job-name=typo
#SBATCH --time=2days
python job.py
