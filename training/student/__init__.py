"""RRA-BERT student: a BERT cross-encoder (all-MiniLM-L6-v2 start) distilled from the LLM teacher.

- ``encoding``: query/document pair encoding shared by training, the PyTorch scorer and the ONNX scorer.
- ``token_selection``: which document tokens match a query token (RRADistill's Token Selection).
- ``tcl``: the Term Control Layer, a training-only auxiliary head over the selected tokens.
- ``model``: ``RRABert`` = ``BertForSequenceClassification`` (the served graph) + optional TCL.
- ``data``: label files -> per-query candidate groups; ``objective``: losses for one batch.
- ``trainer``: the seeded, resumable training loop behind ``rerank train``.
"""
