"""Triton python-backend model: the CPU twin of the production ``onnxruntime`` model.

Copied verbatim into a generated CPU model repository (see ``service.model_repository``) as
``<model>/<version>/model.py`` beside that version's ``model.onnx``. It serves the same name,
tensors and batching as the GPU config, so clients cannot tell the two apart.

Runs inside Triton's ``triton_python_backend_stub``, not in the service: only numpy,
onnxruntime and the stub's ``triton_python_backend_utils`` may be imported here.
"""

import json
import os

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils

INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT = "logits"


def _parameter(config: dict, key: str, default: str) -> str:
    return config.get("parameters", {}).get(key, {}).get("string_value", default)


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        version_dir = os.path.join(args["model_repository"], args["model_version"])
        options = ort.SessionOptions()
        # Triton runs several instances/models in one host: keep each session's thread pool small.
        options.intra_op_num_threads = int(_parameter(config, "intra_op_thread_count", "1"))
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            os.path.join(version_dir, "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
        self.max_batch_size = int(config.get("max_batch_size", 0))

    def execute(self, requests):
        """Score every request; requests whose tensors share a shape run as one ONNX batch.

        The dynamic batcher only merges requests of equal shape, but the python backend hands them
        over one by one, so the merge into a single session run happens here.
        """
        responses = [None] * len(requests)
        groups: dict = {}
        for index, request in enumerate(requests):
            try:
                arrays = [pb_utils.get_input_tensor_by_name(request, name).as_numpy() for name in INPUTS]
                shapes = {a.shape for a in arrays}
                if len(shapes) != 1 or len(arrays[0].shape) != 2:
                    raise ValueError(f"inputs must share one [batch, length] shape, got {[a.shape for a in arrays]}")
                groups.setdefault(arrays[0].shape[1], []).append((index, arrays))
            except Exception as exc:  # a malformed request must not fail its neighbours
                responses[index] = pb_utils.InferenceResponse(error=pb_utils.TritonError(str(exc)))

        for members in groups.values():
            try:
                feed = {
                    name: np.concatenate([arrays[i] for _, arrays in members]).astype(np.int64, copy=False)
                    for i, name in enumerate(INPUTS)
                }
                logits = self.session.run([OUTPUT], feed)[0].astype(np.float32, copy=False)
                start = 0
                for index, arrays in members:
                    rows = arrays[0].shape[0]
                    out = pb_utils.Tensor(OUTPUT, np.ascontiguousarray(logits[start:start + rows]))
                    responses[index] = pb_utils.InferenceResponse(output_tensors=[out])
                    start += rows
            except Exception as exc:
                for index, _ in members:
                    responses[index] = pb_utils.InferenceResponse(error=pb_utils.TritonError(str(exc)))
        return responses

    def finalize(self):
        self.session = None
