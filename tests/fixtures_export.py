"""Session fixtures made by export/: ONNX models exported from the tiny trained checkpoint."""
