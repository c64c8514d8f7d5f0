"""Evaluation: metrics and the one scorer interface every ranker is measured through."""
