"""`kgp demo`: generate a product catalogue, load it, complete it end to end, then recommend from it.
`kgp demo --scale N`: generate a synthetic catalogue of N relationships and load it, for scale tests."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from kgplatform.cli.common import AsJson, console, emit_json, open_configured_store, out, settings
from kgplatform.progress import RichProgress


def demo(time_budget: float = typer.Option(90.0, help="the link predictor's training budget in seconds; the "
                                                       "recommender gets a quarter of it"),
         scale: Optional[int] = typer.Option(None, "--scale", min=1000, max=50_000_000,
                                             help="instead: write a synthetic catalogue of about this many "
                                             "relationships (N/10 products, skewed degrees, titles) and load it "
                                             "into KGP_GRAPH; train on it with `kgp pipeline`"),
         scale_dir: Optional[Path] = typer.Option(None, "--scale-dir", help="where --scale writes the dataset "
                                                  "folder (default $KGP_HOME/scale-N)"),
         as_json: AsJson = False):
    """Generate a product catalog, load it into the embedded store, train, and write predictions; then generate people
    who buy from it, and write and show their recommendations."""
    if scale is not None:
        report = _scale_catalogue(scale, scale_dir)
    else:
        from kgplatform.demo.run import run_demo  # torch and the model: only when the demo runs

        report = run_demo(settings(), time_budget=time_budget, console=out, progress_console=console, quiet=as_json)
    if as_json:
        emit_json(report)


def _scale_catalogue(size: int, folder: Optional[Path]) -> dict:
    from kgplatform.demo.scale import generate_scale_catalog, write_scale_dataset
    from kgplatform.ingest.load import ingest_path

    config = settings()
    folder = folder or config.home / f"scale-{size}"
    console.print(f"generating a catalogue of {size:,} relationships in {folder}", markup=False)
    counts = write_scale_dataset(generate_scale_catalog(size), folder)
    store = open_configured_store()
    try:
        with RichProgress(console) as progress:
            loaded = ingest_path(store, folder, batch_size=config.write_batch_size, progress=progress)
    finally:
        store.close()
    out.print(f"loaded {counts['entities']:,} entities ({counts['products']:,} products) and "
              f"{loaded['relationships_created']:,} relationships into graph {config.graph!r}; "
              f"{counts['valid']:,} valid and {counts['test']:,} test links are marked for evaluation", markup=False)
    return {"folder": str(folder), **counts, "relationships_created": loaded["relationships_created"]}
