"""The OpenAI-compatible client and list-wise teacher against the project's real teacher server
(``rerank teacher serve``'s app under uvicorn on a free port), serving a tiny trained teacher."""

import threading

import httpx
import pytest

from tests.helpers.tiny_llm import build_tiny_llm, serve_app, wrap_app
from training.teacher.api import ListwiseAPITeacher
from training.teacher.dense import DenseTeacher
from training.teacher.openai_client import APIError, ChatClient
from training.teacher.server import create_app
from training.teacher.train import TrainConfig, train

DOCS = [f"Passage {i} about {'fleas and the blood they eat' if i % 3 == 0 else 'markets and towns'} "
        f"number {i}" for i in range(25)]
QUERY = "what do fleas eat"


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    root = tmp_path_factory.mktemp("teacher")
    tiny = build_tiny_llm(root / "tiny")
    out = train(TrainConfig(stage="sft", out=str(root / "sft"), init=str(tiny), steps=1, batch_size=2,
                            max_length=40, max_query_tokens=12, train_layers=1, sources=["msmarco"], progress=False))
    return DenseTeacher(out)


@pytest.fixture(scope="module")
def server(teacher):
    with serve_app(create_app(teacher, model_name="tiny-teacher")) as url:
        yield url


def test_listwise_ranking_over_http_matches_in_process_scores(teacher, server, tmp_path):
    client = ChatClient(server + "/v1", "tiny-teacher", cache=tmp_path / "cache.sqlite")
    api = ListwiseAPITeacher(client, window=20, step=10)
    ranking = api.rank(QUERY, DOCS)
    assert sorted(ranking.order) == list(range(len(DOCS))) and ranking.omitted == []
    scores = teacher.score(QUERY, DOCS)
    best = sorted(range(len(DOCS)), key=lambda i: -scores[i])
    # one bubble pass with an exact ranker puts the true top (window - step) first, in order
    assert ranking.order[:10] == best[:10]
    c = client.counters
    assert (c.requests, c.cache_hits, c.failures) == (2, 0, 0)   # windows (5, 25) and (0, 20)
    assert c.prompt_tokens > 0 and c.completion_tokens > 0
    assert api.stats()["windows"] == 2 and api.stats()["parse_failures"] == 0

    # a rerun costs no request: every window comes from the on-disk cache
    again = ChatClient(server + "/v1", "tiny-teacher", cache=tmp_path / "cache.sqlite")
    assert ListwiseAPITeacher(again).rank(QUERY, DOCS).order == ranking.order
    assert (again.counters.requests, again.counters.cache_hits) == (0, 2)
    # another model name is another cache entry
    other = ChatClient(server, "other-model", cache=tmp_path / "cache.sqlite")
    ListwiseAPITeacher(other).rank(QUERY, DOCS[:5])
    assert other.counters.requests == 1


def test_chat_generation_score_and_models_routes(teacher, server):
    client = ChatClient(server, "tiny-teacher", max_tokens=8)
    text = client.chat([{"role": "user", "content": "Say hello."}])
    assert isinstance(text, str)
    assert client.counters.prompt_tokens > 0 and 1 <= client.counters.completion_tokens <= 8
    r = httpx.post(server + "/v1/score", json={"query": QUERY, "documents": DOCS[:3]})
    assert r.json()["scores"] == pytest.approx(teacher.score(QUERY, DOCS[:3]), abs=1e-5)
    assert httpx.get(server + "/v1/models").json()["data"][0]["id"] == "tiny-teacher"
    assert httpx.post(server + "/v1/chat/completions", json={"messages": []}).status_code == 422


def test_retries_with_backoff_then_success(teacher):
    app, state = wrap_app(create_app(teacher, model_name="tiny-teacher"), fail_first=2)
    with serve_app(app) as url:
        client = ChatClient(url, "tiny-teacher", backoff_s=0.01, max_retries=3)
        answer = ListwiseAPITeacher(client).rank(QUERY, DOCS[:4])
        assert sorted(answer.order) == [0, 1, 2, 3]
        assert (client.counters.requests, client.counters.retries, client.counters.failures) == (3, 2, 0)
    # gives up after max_retries and says why
    app, state = wrap_app(create_app(teacher, model_name="tiny-teacher"), fail_first=10)
    with serve_app(app) as url:
        client = ChatClient(url, "tiny-teacher", backoff_s=0.01, max_retries=1)
        with pytest.raises(APIError, match="gave up after 2 attempts: HTTP 503"):
            client.chat([{"role": "user", "content": "hi"}])
        assert client.counters.failures == 1


def test_client_errors_are_not_retried(server):
    client = ChatClient(server + "/no-such-prefix", "tiny-teacher", backoff_s=0.01)
    with pytest.raises(APIError, match="HTTP 404"):
        client.chat([{"role": "user", "content": "hi"}])
    assert (client.counters.requests, client.counters.retries) == (1, 0)


def test_concurrency_limit_is_respected(teacher):
    app, state = wrap_app(create_app(teacher, model_name="tiny-teacher"), delay_s=0.2)
    with serve_app(app) as url:
        client = ChatClient(url, "tiny-teacher", max_concurrency=2)
        threads = [threading.Thread(target=client.chat, args=([{"role": "user", "content": f"[1] doc {i}"}, {
            "role": "user", "content": f"Search Query: q{i}. \nRank the 1 passages above"}],)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert client.counters.requests == 6
        assert 1 <= state["max_inflight"] <= 2
