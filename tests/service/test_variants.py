"""A/B variants: the pure assignment function (10,000 synthetic users), settings validation, and
real HTTP against two versions of the tiny model served side by side."""

from __future__ import annotations

import json
import shutil
from collections import Counter

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.settings import Settings, VariantConfig
from service.variants import BUCKETS, AssignmentTable, UnknownVariantName, bucket, variant_settings
from tests.helpers.tiny_model import MODEL_NAME, build_tiny_onnx
from tests.service.server import start_server

QUERY = "what do cats eat"
DOCS = ["Cats eat meat and fish.", "The stock market fell on Tuesday.", "Kittens need protein.", "cat food"]


# ---- the pure function ---------------------------------------------------------------------------

def test_bucket_is_a_pinned_sha256_function():
    # pinned values: a change to the hash would silently move every user to another arm
    assert bucket("rerank-ab-v1", "user-1") == 4721
    assert bucket("rerank-ab-v1", "user-2") == 4482
    assert bucket("other", "user-1") == 2973  # the salt reshuffles


@pytest.mark.parametrize("shares", [
    {"a": 50, "b": 50},
    {"control": 90, "candidate": 10},
    {"x": 33.33, "y": 33.33, "z": 33.34},
    {"a": 70, "b": 25, "c": 5, "dark": 0},
])
def test_shares_over_10000_synthetic_users(shares):
    table = AssignmentTable(shares, "rerank-ab-v1", ["X-User-Id"])
    counts = Counter(table.choose({"x-user-id": f"user-{i}"}, "ignored").name for i in range(10_000))
    for name, share in shares.items():
        assert abs(100 * counts[name] / 10_000 - share) <= 2.0, (name, counts)
    assert counts["dark"] == 0  # a 0 % arm is reached only by name


def test_choice_order_header_then_sticky_then_request_id():
    table = AssignmentTable({"a": 50, "b": 50}, "s", ["X-User-Id", "X-Session-Id"])
    user = next(f"u{i}" for i in range(100) if table.arm_of_key(f"u{i}") == "a")
    session = next(f"s{i}" for i in range(100) if table.arm_of_key(f"s{i}") == "b")
    assert table.choose({"x-rerank-variant": "b", "x-user-id": user}, "r").name == "b"  # the flag wins
    assert table.choose({"x-rerank-variant": "b"}, "r").source == "header"
    got = table.choose({"x-user-id": user, "x-session-id": session}, "r")
    assert (got.name, got.source) == ("a", "sticky:x-user-id")
    assert table.choose({"x-session-id": session}, "r").name == "b"
    assert table.choose({"x-user-id": "  "}, "req-1") == table.choose({}, "req-1")  # blank: next key
    assert table.choose({}, "req-1").source == "request_id"
    assert {table.choose({}, f"req-{i}").name for i in range(50)} == {"a", "b"}
    with pytest.raises(UnknownVariantName, match="unknown variant 'c'.*configured: a, b"):
        table.choose({"x-rerank-variant": "c"}, "r")


def test_ranges_follow_config_order_and_cover_every_bucket():
    table = AssignmentTable({"b": 10, "a": 90}, "s", ["X-User-Id"])
    assert table.ranges == [("b", 0, 1000), ("a", 1000, BUCKETS)]
    assert table.arm_of_bucket(999) == "b" and table.arm_of_bucket(1000) == "a"


# ---- settings ------------------------------------------------------------------------------------

def test_default_is_one_arm_at_100_percent():
    s = Settings()
    assert s.variants == {}
    assert AssignmentTable.from_settings(s).ranges == [("default", 0, BUCKETS)]


@pytest.mark.parametrize("variants, message", [
    ({"a": {"share": 60}, "b": {"share": 30}}, "must sum to 100, got 90 (a=60, b=30)"),
    ({"a": {"share": 100.005}}, "less than or equal to 100"),
    ({"a": {"share": 50.005}, "b": {"share": 49.995}}, "not a multiple of 0.01"),
    ({"bad name": {"share": 100}}, "variant name 'bad name'"),
    ({"a": {"share": 100, "modle_version": "2"}}, "modle_version"),
])
def test_invalid_variants_fail_at_startup_with_a_clear_error(variants, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Settings(variants=variants)


def test_variants_from_env_json_and_files(tmp_path, monkeypatch):
    monkeypatch.setenv("RERANK_VARIANTS", json.dumps({"a": {"share": 75, "model_version": "1"}, "b": {"share": 25}}))
    s = Settings()
    assert list(s.variants) == ["a", "b"] and s.variants["a"].model_version == "1"
    monkeypatch.delenv("RERANK_VARIANTS")
    toml = tmp_path / "ab.toml"
    toml.write_text('[control]\nshare = 80\nmodel_version = "1"\n\n[candidate]\nshare = 20\nmodel_version = "2"\n')
    s = Settings(variants_file=toml)
    assert [(n, v.share, v.model_version) for n, v in s.variants.items()] == [
        ("control", 80, "1"), ("candidate", 20, "2")]
    as_json = tmp_path / "ab.json"
    as_json.write_text(json.dumps({"variants": {"only": {"share": 100}}}))
    assert list(Settings(variants_file=as_json).variants) == ["only"]
    with pytest.raises(ValueError, match="either variants or variants_file"):
        Settings(variants_file=as_json, variants={"x": {"share": 100}})


def test_rerank_serve_refuses_bad_shares(tmp_path, capsys):
    from training.cli import main

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"a": {"share": 50}, "b": {"share": 49}}))
    assert main(["serve", "--variants-file", str(bad), "--port", "1"]) == 2
    assert "variant shares must sum to 100, got 99 (a=50, b=49)" in capsys.readouterr().err


def test_batching_defaults_follow_each_arms_backend():
    embedded, triton = Settings(), Settings(backend="triton")
    assert (embedded.max_batch_tokens, embedded.max_concurrent_batches) == (1024, 1)
    assert (triton.max_batch_tokens, triton.max_concurrent_batches) == (16384, 8)
    # an arm on the other backend takes that backend's defaults ...
    arm = VariantConfig(share=50, backend="triton")
    moved = variant_settings(embedded, "candidate", arm)
    assert (moved.max_batch_tokens, moved.max_concurrent_batches) == (16384, 8)
    # ... unless the operator set a value: that one is kept for every arm
    tuned = Settings(max_batch_tokens=512)
    moved = variant_settings(tuned, "candidate", arm)
    assert (moved.max_batch_tokens, moved.max_concurrent_batches) == (512, 8)
    assert variant_settings(embedded, "control", None).max_batch_tokens == 1024


# ---- real HTTP: two model versions side by side --------------------------------------------------

@pytest.fixture(scope="module")
def two_versions(tiny_model_repository, tmp_path_factory):
    root = tmp_path_factory.mktemp("ab_repository")
    shutil.copytree(tiny_model_repository / MODEL_NAME / "1", root / MODEL_NAME / "1")
    v2 = root / MODEL_NAME / "2"
    build_tiny_onnx(v2, seed=1)  # other random weights: other scores
    meta = json.loads((v2 / "rerank.json").read_text())
    (v2 / "rerank.json").write_text(json.dumps(meta | {"model_version": "tiny-test-v2"}))
    return root


def ab_settings(root, **kw) -> Settings:
    variants = {"a": {"share": 50, "model_version": "1"}, "b": {"share": 50, "model_version": "2"}}
    return Settings(model_repository=root, variants=variants, **kw)


@pytest.fixture(scope="module")
def ab_url(two_versions):
    with start_server(ab_settings(two_versions)) as url:
        yield url


def post(url, headers=None, body=None, path="/rerank"):
    return httpx.post(url + path, json=body or {"query": QUERY, "documents": DOCS}, headers=headers or {}, timeout=60)


def test_explicit_flag_picks_the_arm_and_each_arm_is_its_own_model(ab_url):
    answers = {}
    for arm, version in (("a", "tiny-test"), ("b", "tiny-test-v2")):
        r = post(ab_url, {"X-Rerank-Variant": arm, "X-User-Id": "someone"})
        assert r.status_code == 200, r.text
        assert r.headers["x-rerank-variant"] == arm and r.headers["x-model-version"] == version
        body = r.json()
        assert body["meta"]["variant"] == arm and body["meta"]["model_version"] == version
        answers[arm] = {x["index"]: x["relevance_score"] for x in body["results"]}
    assert answers["a"] != pytest.approx(answers["b"])  # different weights answered
    # TEI shape: the arm is in the headers
    r = post(ab_url, {"X-Rerank-Variant": "b"}, {"query": QUERY, "texts": DOCS})
    assert r.headers["x-rerank-variant"] == "b" and {x["index"]: x["score"] for x in r.json()} == pytest.approx(
        answers["b"])


def test_explicit_flag_wins_over_the_sticky_bucket(ab_url):
    table = AssignmentTable({"a": 50, "b": 50}, Settings().variant_salt, ["X-User-Id"])
    user = next(f"user-{i}" for i in range(100) if table.arm_of_key(f"user-{i}") == "a")
    assert post(ab_url, {"X-User-Id": user}).headers["x-rerank-variant"] == "a"
    assert post(ab_url, {"X-User-Id": user, "X-Rerank-Variant": "b"}).headers["x-rerank-variant"] == "b"


def test_unknown_variant_is_a_400_in_the_error_shape(ab_url):
    r = post(ab_url, {"X-Rerank-Variant": "nope"})
    assert r.status_code == 400
    assert r.json() == {"error": {"type": "unknown_variant",
                                  "message": "unknown variant 'nope' in X-Rerank-Variant; configured: a, b"}}
    # it wins over body validation too
    assert post(ab_url, {"X-Rerank-Variant": "nope"}, {"query": ""}).status_code == 400


def test_sticky_users_stay_in_their_arm_across_requests_and_restarts(two_versions, ab_url):
    users = [f"user-{i}" for i in range(16)]
    expected = AssignmentTable({"a": 50, "b": 50}, Settings().variant_salt, ["X-User-Id", "X-Session-Id"])

    def arms(url):
        return {u: post(url, {"X-User-Id": u}).headers["x-rerank-variant"] for u in users}

    first = arms(ab_url)
    assert first == {u: expected.arm_of_key(u) for u in users}
    assert set(first.values()) == {"a", "b"}
    assert arms(ab_url) == first  # the same on the next requests
    # a new app and server (a restart, or another replica) assigns the same way
    with start_server(ab_settings(two_versions)) as url:
        assert arms(url) == first
        # session id when there is no user id
        assert post(url, {"X-Session-Id": "sess-9"}).headers["x-rerank-variant"] == expected.arm_of_key("sess-9")


def _samples(url) -> dict:
    out = {}
    for family in text_string_to_metric_families(httpx.get(url + "/metrics").text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_ready_info_and_metrics_cover_every_arm(ab_url):
    assert httpx.get(ab_url + "/ready").json() == {"status": "ready"}
    info = httpx.get(ab_url + "/info").json()
    assert [(v["name"], v["share"], v["version"], v["model_version"], v["ready"]) for v in info["variants"]] == [
        ("a", 50, "1", "tiny-test", True), ("b", 50, "2", "tiny-test-v2", True)]
    assert info["assignment"]["ranges"] == {"a": [0, 5000], "b": [5000, 10000]}
    post(ab_url, {"X-Rerank-Variant": "a"})
    post(ab_url, {"X-Rerank-Variant": "b"})
    post(ab_url, {"X-Rerank-Variant": "b"}, {"query": "", "documents": ["x"]})  # 422 in arm b
    m = _samples(ab_url)

    def get(name, **labels):
        return m.get((name, tuple(sorted(labels.items()))), 0.0)

    for arm in ("a", "b"):
        assert get("rerank_request_duration_seconds_count", route="/rerank", variant=arm, status="200") >= 1
        assert get("rerank_stage_duration_seconds_count", stage="inference", variant=arm) >= 1
        assert get("rerank_backend_ready", variant=arm) == 1
    assert get("rerank_request_duration_seconds_count", route="/rerank", variant="b", status="422") >= 1
    assert get("rerank_errors_total", type="validation_error", variant="b") >= 1
    assert get("rerank_backend_info", model=MODEL_NAME, version="2", model_version="tiny-test-v2",
               backend="embedded", variant="b") == 1
    assert get("rerank_backend_info", model=MODEL_NAME, version="1", model_version="tiny-test",
               backend="embedded", variant="a") == 1


def test_ready_is_503_while_any_arm_is_not_loaded(two_versions):
    settings = Settings(model_repository=two_versions, load_retry_interval_s=3600,
                        variants={"a": {"share": 100, "model_version": "1"}, "c": {"share": 0, "model_version": "7"}})
    with start_server(settings) as url:
        r = httpx.get(url + "/ready")
        assert r.status_code == 503 and r.json()["error"]["message"].startswith("variant c: model not loaded")
        assert post(url).headers["x-rerank-variant"] == "a"  # the healthy arm still answers
        r = post(url, {"X-Rerank-Variant": "c"})
        assert r.status_code == 503 and r.json()["error"]["type"] == "model_not_ready"
        info = httpx.get(url + "/info").json()
        assert info["ready"] is False and [v["ready"] for v in info["variants"]] == [True, False]
