"""Batch normalization of exported dumps (private: the facade re-exports ``read_dump``, ...).

The pipeline, from source to writer:

- ``sources``: paths, directories, open files and stdin as byte streams (gzip unwrapped).
- ``documents`` (with ``wrappers`` and ``streaming``): bytes to raw records: JSON Lines,
  arrays, list wrappers, single objects, large documents streamed.
- ``records``: ``RecordError``, a record that failed, its text redacted.
- ``reader``: raw records to a ``Run`` or a ``RecordError`` each (``read_dump``).
- ``normalizer``: one shard in one process: records to redacted output, counted.
- ``engine``: ``runnorm normalize``'s work, serial or on worker processes (``parallel``)
  over line-aligned ``shards``.
- ``writers``: JSONL, JSON, CSV and Parquet; ``outfile``: an output published whole.
- ``summary``: counts by provider and status, run-time percentiles (``summarize``).
- ``cluster``: the same normalization on a Dask cluster (``--engine dask``).
"""
