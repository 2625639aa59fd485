"""Fine-tuned encoders as content-addressed artefacts: saved under a folder named by their fingerprint.

The fingerprint (text/embeddings.model_fingerprint) hashes the weights, so the embedding cache of a fine-tuned
encoder is a different file from the frozen one's, and two fine-tunes that differ by one weight never share
vectors. The folder name is the fingerprint, so load_encoder's per-path cache cannot serve a stale model.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from kgplatform.text.embeddings import model_fingerprint

ENCODERS_DIR = "encoders"


def save_encoder(model, root: Path) -> Path:
    """Save a SentenceTransformer under root/encoders/<fingerprint>/ and return that folder (an existing folder
    of the same fingerprint is the same model: kept as it is)."""
    folder_root = Path(root) / ENCODERS_DIR
    folder_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".saving-", dir=folder_root))
    try:
        model.save(str(staging / "model"), safe_serialization=True)
        fingerprint = model_fingerprint(str(staging / "model")).split("-")[-1]
        final = folder_root / f"ft-{fingerprint}"
        if not final.exists():
            (staging / "model").rename(final)
        return final
    finally:
        shutil.rmtree(staging, ignore_errors=True)
