"""The banding of MinHash signatures for the near-duplicate index shared through the store.

Every worker looks near-duplicates up in the database, not in a per-process index: a document's
signature is cut into `BANDS` bands of `ROWS` values, each band is hashed with its band number
into one signed 64-bit `band_key`, and `lsh_bands (band_key, document_id)` is written in the
transaction that stores the signature. A lookup is then one indexed `band_key IN (...)` query,
whose cost does not depend on the number of stored documents; the exact MinHash comparison of
the candidates follows, as before. The banding is datasketch's for MinHashLSH(threshold=0.5,
num_perm=128) (25 bands of 5), so the candidates are the ones its in-memory LSH gave.

Changing BANDS, ROWS or the hash changes what is stored: that needs a migration that refills
the table.
"""

from __future__ import annotations

import hashlib

import numpy as np

NUM_PERM = 128
BANDS, ROWS = 25, 5
_PERSON = b"leakmon lsh v1"


def band_keys(hashvalues: np.ndarray) -> list[int]:
    """The `BANDS` band keys of one signature; none for a signature of another length (such
    signatures were never indexed)."""
    if len(hashvalues) != NUM_PERM:
        return []
    data = np.asarray(hashvalues, dtype="<u8").tobytes()
    width = ROWS * 8
    return [int.from_bytes(hashlib.blake2b(bytes((band,)) + data[band * width:(band + 1) * width],
                                           digest_size=8, person=_PERSON).digest(),
                           "little", signed=True)
            for band in range(BANDS)]
