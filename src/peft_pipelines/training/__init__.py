"""The training core shared by every pipeline: quantized base, PEFT wrapping, Trainer fitting.

Pipelines describe *what* to train in parameters; these functions do the
loading, wrapping and fitting once, for Whisper and causal LMs alike.
"""
