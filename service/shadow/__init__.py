"""The shadow LLM-teacher path: live requests copied to the teacher (``pipeline``), answers kept in a
durable SQLite relabel store (``store``), student-teacher agreement (``agreement``), and the
export to training labels (``export``, ``rerank relabel export``). See docs/ab-and-shadow.md."""
