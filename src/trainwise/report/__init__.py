"""Plots (matplotlib, Agg) and self-contained HTML reports of runs and studies."""
