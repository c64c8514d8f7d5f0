"""Loading candidates, judgments and corpora; building first-stage candidates."""

from training.data.hits import Candidate, QueryCandidates, read_hits, write_hits
from training.data.trec import read_qrels, read_topics

__all__ = ["Candidate", "QueryCandidates", "read_hits", "write_hits", "read_qrels", "read_topics"]
