"""Secret detectors, one module per vendor family, each with its pattern, its validation
(checksums where the format has one: GitHub's and npm's CRC32, PyPI's macaroon, a Discord
token's base64 id, a JWT's JSON parts) and the shared placeholder filter (placeholders.py).

detectors.py adds SECRET_DETECTORS to its registry; rules name them by `Detector.name`.
"""

from __future__ import annotations

from monitor.matching.detector_base import Detector
from monitor.matching.secrets import ai, chat, cloud, code_hosting, database, jwt, saas

SECRET_DETECTORS: dict[str, Detector] = {
    d.name: d
    for module in (code_hosting, ai, chat, jwt, cloud, saas, database)
    for d in module.DETECTORS
}
