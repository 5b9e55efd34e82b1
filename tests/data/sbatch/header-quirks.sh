#!/bin/bash

# Header with comments and blank lines: sbatch reads on until the first command.
#SBATCH --job-name="quick check"

#SBATCH --part=dev-g
#SBATCH -N1 -t5
#SBATCH --mem 8G   # a trailing comment
##SBATCH --gpus-per-node=8
hostname
