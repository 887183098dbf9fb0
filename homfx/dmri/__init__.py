"""Diffusion MRI in permeable media (Kchaou & Li, seed 000): cell problems, effective tensors, the
R0/R1/R2 signal models and the fine-scale Bloch-Torrey reference. Spec: shared/spec/bloch_torrey.md."""
