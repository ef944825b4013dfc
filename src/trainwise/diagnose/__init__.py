"""Reading runs: findings from training curves, with remedies, and whether more data would help."""
