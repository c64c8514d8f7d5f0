"""The real bundled tritonserver serving the CPU twin of a real (tiny) model repository."""

from __future__ import annotations

import os
import shutil
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from service.model_repository import INPUT_NAMES
from service.triton_server import TritonServer, TritonServerError
from tests.helpers.tiny_model import MODEL_NAME

pytestmark = pytest.mark.slow

QUERY = "what is the boiling point of water at sea level"
DOCUMENTS = [
    "Water boils at 100 degrees Celsius at sea level.",
    "The capital of France is Paris.",
    "At higher altitudes the boiling point of water is lower because air pressure drops.",
    "Bananas are rich in potassium.",
    "Boiling",
]


def tokenized(version_dir, query=QUERY, documents=DOCUMENTS) -> dict[str, np.ndarray]:
    """Real query/document pairs through the version's own tokenizer, padded to the longest."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(version_dir / "tokenizer.json"))
    tokenizer.enable_padding()
    encodings = tokenizer.encode_batch([(query, d) for d in documents])
    return {
        "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
        "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
    }


def onnx_logits(version_dir, feed) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(version_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    return session.run(["logits"], feed)[0]


def http_infer(server: TritonServer, feed, version: str = ""):
    import tritonclient.http as httpclient

    client = httpclient.InferenceServerClient(server.http_url)
    inputs = []
    for name in INPUT_NAMES:
        tensor = httpclient.InferInput(name, list(feed[name].shape), "INT64")
        tensor.set_data_from_numpy(feed[name])
        inputs.append(tensor)
    try:
        return client.infer(MODEL_NAME, inputs, model_version=version).as_numpy("logits")
    finally:
        client.close()


def test_served_config_is_the_cpu_twin(triton_server):
    import tritonclient.grpc as grpcclient

    client = grpcclient.InferenceServerClient(triton_server.grpc_url)
    config = client.get_model_config(MODEL_NAME).config
    assert config.backend == "python"
    assert config.max_batch_size == 64
    assert [i.name for i in config.input] == list(INPUT_NAMES)
    assert [(o.name, list(o.dims)) for o in config.output] == [("logits", [1])]
    assert list(config.dynamic_batching.preferred_batch_size) == [8, 16, 32, 64]
    index = client.get_model_repository_index().models
    assert {(m.name, m.version, m.state) for m in index} == {(MODEL_NAME, "1", "READY"), (MODEL_NAME, "2", "READY")}
    client.close()


@pytest.mark.parametrize("version", ["1", "2"])
def test_batch_matches_onnxruntime(triton_server, triton_model_repository, version):
    version_dir = triton_model_repository / MODEL_NAME / version
    feed = tokenized(version_dir)
    logits = http_infer(triton_server, feed, version)
    assert logits.shape == (len(DOCUMENTS), 1) and logits.dtype == np.float32
    np.testing.assert_allclose(logits, onnx_logits(version_dir, feed), atol=1e-5, rtol=0)


def test_versions_are_served_side_by_side(triton_server, triton_model_repository):
    feed = tokenized(triton_model_repository / MODEL_NAME / "1")
    one, two, latest = (http_infer(triton_server, feed, v) for v in ("1", "2", ""))
    assert not np.allclose(one, two)  # different weights really are different models
    np.testing.assert_array_equal(latest, two)  # no version = the newest


def test_concurrent_requests_of_mixed_lengths(triton_server, triton_model_repository):
    """Many clients at once, so the dynamic batcher merges requests; each must get its own rows."""
    version_dir = triton_model_repository / MODEL_NAME / "2"
    feeds = [
        tokenized(version_dir, query=f"query number {i} " * (1 + i % 3), documents=DOCUMENTS[: 1 + i % 5])
        for i in range(24)
    ]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda feed: http_infer(triton_server, feed, "2"), feeds))
    for feed, logits in zip(feeds, results):
        np.testing.assert_allclose(logits, onnx_logits(version_dir, feed), atol=1e-5, rtol=0)


def test_metrics_endpoint_counts_inferences(triton_server, triton_model_repository):
    http_infer(triton_server, tokenized(triton_model_repository / MODEL_NAME / "1"), "1")
    text = urllib.request.urlopen(triton_server.metrics_url, timeout=10).read().decode()
    lines = [l for l in text.splitlines() if l.startswith("nv_inference_request_success{") and 'version="1"' in l]
    assert lines and float(lines[0].rsplit(" ", 1)[1]) >= 1
    assert "nv_inference_queue_duration_us" in text and "nv_inference_compute_infer_duration_us" in text


def test_stop_ends_the_process_and_its_stubs(triton_model_repository, tmp_path):
    server = TritonServer(triton_model_repository, http_port=0, grpc_port=0, metrics_port=0)
    with server:
        pid = server.pid
        work_dir = server.work_dir
        assert server.is_ready()
        children = _children(pid)
        assert children  # the python-backend stubs, one per model instance and version
    assert server.process is None
    for p in [pid, *children]:
        assert not _alive(p)
    assert not work_dir.exists()  # a temp work dir it made itself is removed


def test_a_model_that_cannot_load_fails_the_start(triton_model_repository, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(triton_model_repository / MODEL_NAME / "1", broken / MODEL_NAME / "1")
    (broken / MODEL_NAME / "1" / "model.onnx").write_bytes(b"not an onnx file")
    server = TritonServer(broken, http_port=0, grpc_port=0, metrics_port=0, work_dir=tmp_path / "work")
    with pytest.raises(TritonServerError, match="exited"):
        server.start()
    assert server.process is None
    assert "rerank-student" in (tmp_path / "work" / "tritonserver.log").read_text()


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
