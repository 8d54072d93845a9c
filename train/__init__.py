"""Everything that makes the weights in weights/: GAN training, distillation, export, INT8 quantization, evaluation,
bundling and Hub publishing (PyTorch lives only here). See train/README.md."""
