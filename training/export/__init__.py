"""From a trained student checkpoint to a served model version (``rerank export``).

- ``onnx_export``: the inference graph only (BertForSequenceClassification, TCL left behind) to
  ONNX through optimum's ``main_export``.
- ``parity``: ONNX vs PyTorch scores on real DL19 pairs; the export fails above the tolerance.
- ``variants``: ORT graph optimization (ORTOptimizer) and dynamic int8 quantization (ORTQuantizer).
- ``repository``: the model-repository version folder (``service.model_repository`` layout).
- ``model_card``: MODEL_CARD.md.
- ``pipeline``: the whole sequence, its int8 guard, and the report.
"""
