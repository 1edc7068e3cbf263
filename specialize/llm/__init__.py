"""LLM calls: the litellm client (concurrency, retries, on-disk cache, cost), its request/response records,
the forked worker shards for big batches, pulling JSON out of model text, and the response formats
that ask each kind of server for output constrained to a JSON schema.

May import: ``specialize.runtime``.
"""
