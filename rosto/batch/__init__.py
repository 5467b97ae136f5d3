"""`rosto batch`: whole photo collections, on this machine's cores or on a Ray cluster.

``run`` (the command) expands the inputs (``sources``), skips what the output already holds
(``journal``), has every other photo analysed by worker processes (``local``) or Ray actors
(``on_ray``) through ``records.analyze_source`` — the server's decode and pipeline — and writes
each record as it comes, then the per-face table (``tables``) for CSV or Parquet output.

Worker processes import this package: it imports nothing itself.
"""
