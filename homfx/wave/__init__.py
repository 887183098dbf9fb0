"""Long-time effective wave equations (Abdulle & Pouchon, seed 001): cell cascade, a0 and dispersive
tensors, the family of effective equations, Fourier and fine-scale solvers. Spec: shared/spec/wave.md."""
