"""Export a trained agent's act path for serving outside Python-nacre: ONNX graphs of the greedy
policy and of the exploring policy (its action distribution or a sample with its propensity),
with ``export.json`` describing them (``nacre export RUN_DIR --format onnx``; docs/export.md).

Needs the ``[onnx]`` extra (onnx, onnxruntime, onnxscript).
"""

from nacre.export.onnx import OPSET, export_onnx

__all__ = ["OPSET", "export_onnx"]
