"""Scanning files, folders and stdin once: the library under `leakmon scan`.

- `inputs`: what to scan, the walk of folders and the reading of files a slice at a time;
- `batch`: the scan of the inputs slice by slice, in this process or in a pool of forked
  workers, with its totals;
- `render`: a document's result as a `--json` line or a table, and the summary line.
"""
