"""The Slurm executor: real Slurm clusters through their CLI or slurmrestd."""
