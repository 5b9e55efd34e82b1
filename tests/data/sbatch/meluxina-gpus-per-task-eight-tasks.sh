#!/bin/bash -l
#SBATCH -J nemo-asr-ddp
#SBATCH -A p200123
#SBATCH -p gpu -q default
#SBATCH -n 8
#SBATCH --gpus-per-task=1
#SBATCH -c 16
#SBATCH -t 30
#SBATCH --mail-type=END,FAIL
#SBATCH --mail-user=bob@example.eu

module load env/release/2023.1 Apptainer
srun apptainer exec --nv nemo.sif python train_asr.py trainer.devices=1 trainer.num_nodes=8
