"""LLM calls: the litellm client (concurrency, retries, on-disk cache, cost), its request/response records,
the forked worker shards for big batches, and pulling JSON out of model text.

May import: ``specialize.runtime``.
"""
