"""Locust load test for ``POST /rerank`` with real queries and real candidate passages.

Each request is one query with ``--docs-per-request`` candidates:

- ``--query-source dl19`` (default): a TREC DL19 query with its own BM25 top-N passages, as a
  first-stage retriever would send them;
- ``--query-source msmarco-dev``: an MS MARCO dev query (6,980 real web queries) with N passages
  drawn from the DL19 candidate pool (realistic lengths; relevance does not matter for load).

    locust -f loadtest/locustfile.py --host http://127.0.0.1:8080 --docs-per-request 50
    python loadtest/run.py ...   # starts the service, runs locust headless, writes reports/loadtest/

Data: ``--data-dir`` / ``RERANK_DATA_DIR`` (default ``../shared/data`` beside the project).
"""

from __future__ import annotations

import random

from locust import FastHttpUser, between, events, task
# locust puts this file's folder on sys.path; the workload lives apart so it can be tested without
# importing locust (which monkey-patches the whole process with gevent).
from workload import DEFAULT_DATA_DIR, build_request, load_pool


@events.init_command_line_parser.add_listener
def _options(parser) -> None:
    parser.add_argument("--docs-per-request", type=int, default=20, env_var="LOADTEST_DOCS",
                        help="candidates per /rerank request")
    parser.add_argument("--query-source", choices=["dl19", "msmarco-dev"], default="dl19",
                        env_var="LOADTEST_QUERY_SOURCE")
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR), env_var="RERANK_DATA_DIR")
    parser.add_argument("--top-n", type=int, default=0, env_var="LOADTEST_TOP_N",
                        help="ask for only the best N (0: all)")
    parser.add_argument("--rerank-path", default="/rerank", env_var="LOADTEST_PATH")
    parser.add_argument("--think-time", type=float, default=0.0, env_var="LOADTEST_THINK_TIME",
                        help="max random pause between a user's requests, seconds (0: closed loop)")


class RerankUser(FastHttpUser):
    wait_time = between(0, 0)

    def on_start(self) -> None:
        options = self.environment.parsed_options
        self.docs = max(1, options.docs_per_request)
        self.top_n = options.top_n
        self.path = options.rerank_path
        self.pool, self.passages = load_pool(options.data_dir, options.query_source)
        self.rng = random.Random()
        if options.think_time > 0:
            think = options.think_time
            self.wait_time = lambda: self.rng.uniform(0, think)

    @task
    def rerank(self) -> None:
        body = build_request(self.rng, self.pool, self.passages, self.docs, self.top_n)
        expected = min(self.top_n, self.docs) if self.top_n else self.docs
        with self.client.post(self.path, json=body, name=f"{self.path} [{self.docs} docs]",
                              catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}: {(response.text or '')[:200]}")
                return
            try:
                results = response.json()["results"]
            except (ValueError, KeyError, TypeError) as exc:
                response.failure(f"bad body: {exc}")
                return
            if len(results) != expected:
                response.failure(f"{len(results)} results for {expected} expected")
