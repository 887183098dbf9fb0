"""Multicontinuum time-fractional diffusion-wave (seed 002): Caputo time stepping, constraint cell
problems, multicontinuum coefficients, coarse model, downscaling. Spec: shared/spec/multicontinuum.md."""
