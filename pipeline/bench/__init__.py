"""Benchmarks (``mentionflow bench``): the Kafka ceiling, stages alone, the pipeline end to end."""
