"""Teacher labels for distillation (RRADistill): the JSONL format (``schema``) and the pipeline
that produces it (``pipeline``, ``rerank label``)."""
