"""`provreg detector train|evaluate`: the fallback manipulation model, trained and evaluated on pseudo-fakes.

Thin: the work is in `detector.train` and `detector.evaluate`, imported inside the commands (torch is heavy).
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from api.cli.common import JsonOption, app, emit_json, fail_cleanly, open_registry, stderr, stdout

if TYPE_CHECKING:
    from detector.photos import Photo
    from detector.train import Recipe

detector_app = typer.Typer(
    help="The fallback manipulation model (for media that matches nothing registered).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(detector_app, name="detector")

PhotosOption = Annotated[
    Path | None,
    typer.Option(
        "--photos-dir",
        exists=True,
        file_okay=False,
        help="train on the real images under this directory instead of the photos bundled in installed packages",
    ),
]
SizeOption = Annotated[int, typer.Option(min=32, max=512, help="model input side in pixels")]
EpochsOption = Annotated[int, typer.Option(min=1, help="passes over the training samples")]


REGISTRY_SOURCE = "this registry's registered originals (the realistic source of faces in production)"


def _photos(photos_dir: Path | None) -> list[Photo]:
    from detector import photos as sources

    photos = sources.package_photos() if photos_dir is None else sources.directory_photos(photos_dir)
    source = "bundled package photos" if photos_dir is None else str(photos_dir)
    stderr.print(f"{len(photos)} real source photos from {source}", highlight=False)
    return photos


def _registry_photos(ctx: typer.Context) -> list[Photo]:
    from detector.photos import Photo
    from registry.originals import registered_photos

    with fail_cleanly(), open_registry(ctx, writes=False) as registry:
        photos = [Photo(f"registration:{rid}", rgb) for rid, rgb in registered_photos(registry)]
    stderr.print(f"{len(photos)} real source photos from {REGISTRY_SOURCE}", highlight=False)
    return photos


def _recipe(size: int, samples: int, epochs: int, seed: int = 0) -> Recipe:
    from detector.train import Recipe

    return Recipe(size=size, train_samples=samples, epochs=epochs, seed=seed)


@detector_app.command()
def train(
    ctx: typer.Context,
    out: Annotated[
        Path | None,
        typer.Option(file_okay=False, help="where to write NAME.pt and NAME.json  [default: the package's weights]"),
    ] = None,
    name: Annotated[str, typer.Option(help="file name stem of the weights")] = "sbi-effnetlite0",
    photos_dir: PhotosOption = None,
    from_registry: Annotated[
        bool,
        typer.Option(
            "--from-registry",
            help="train on the still images registered in --data-dir by verified publishers and not revoked: "
            "the realistic source of faces in production",
        ),
    ] = False,
    size: SizeOption = 64,
    samples: Annotated[int, typer.Option(min=16, help="training samples (half real, half pseudo-fake)")] = 2400,
    epochs: EpochsOption = 4,
    seed: Annotated[int, typer.Option(help="random seed of the split, the samples and the initialisation")] = 0,
    calibration_photos: Annotated[int, typer.Option(min=1, help="source photos held out for calibration")] = 3,
    as_json: JsonOption = False,
) -> None:
    """Train on pseudo-fakes made from real photos, calibrate, set the 5%-false-positive threshold, save.

    The model never sees a real deepfake: the fakes are self-blends, colour-matched splices, local warps, region
    re-synthesis and random-decoder passes of the source photos. With --from-registry the source photos are this
    registry's own registered originals, the realistic source of faces in production.
    """
    import torch
    from rich.progress import Progress

    from detector import model as model_io
    from detector.photos import split_photos
    from detector.train import train_model

    if from_registry and photos_dir is not None:
        raise typer.BadParameter("give --photos-dir or --from-registry, not both", param_hint="--from-registry")
    torch.set_num_threads(1)
    photos = _registry_photos(ctx) if from_registry else _photos(photos_dir)
    try:
        train_set, calibration, _ = split_photos(photos, seed=seed, calibration=calibration_photos, test=0)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--from-registry" if from_registry else "--photos-dir") from None
    recipe = _recipe(size, samples, epochs, seed=seed)
    with Progress(console=stderr, transient=True, disable=as_json) as progress:
        task = progress.add_task("training", total=None)
        model = train_model(
            train_set,
            calibration,
            recipe,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    extra = {
        "command": shlex.join(["provreg", *sys.argv[1:]]),
        "recipe": recipe.as_dict(),
        "source": REGISTRY_SOURCE if from_registry else str(photos_dir or "bundled package photos"),
        "train_photos": [p.name for p in train_set],
        "calibration_photos": [p.name for p in calibration],
        "torch": torch.__version__,
    }
    weights, meta = model_io.save(model, out or model_io.WEIGHTS_DIR, name, extra)
    summary = {
        "weights": str(weights),
        "meta": str(meta),
        "version": model.version,
        "threshold": model.threshold,
        "source": extra["source"],
        "photos": len(photos),
    }
    if as_json:
        emit_json(summary)
    else:
        stdout.print(
            f"{model.version}: trained on {len(photos)} photos from {extra['source']}; "
            f"threshold {model.threshold:.3f}, saved {weights} and {meta}",
            highlight=False,
        )


@detector_app.command()
def evaluate(
    photos_dir: PhotosOption = None,
    seeds: Annotated[int, typer.Option(min=1, help="number of seeds (splits and initialisations)")] = 3,
    size: SizeOption = 64,
    samples: Annotated[int, typer.Option(min=16, help="training samples per model")] = 500,
    epochs: EpochsOption = 3,
    test_samples: Annotated[int, typer.Option(min=20, help="test samples per seed (half real)")] = 600,
    out: Annotated[Path | None, typer.Option(dir_okay=False, help="also write every run as JSON here")] = None,
    seen_degradation: Annotated[
        bool,
        typer.Option(
            "--seen-degradation",
            help="test under the training's JPEG qualities and sizes (isolates the unseen family), not unseen ones",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Leave-one-family-out: per family, train without it and test on it, on unseen photos, sizes and JPEG.

    Prints the model card's table (mean ± sd over seeds) and the committed model's latency at 224 px.
    """
    import torch

    from detector import synth
    from detector.evaluate import as_json as results_json
    from detector.evaluate import latency_ms, leave_one_family_out, markdown_table, summarise
    from detector.model import load_default

    torch.set_num_threads(1)
    photos = _photos(photos_dir)
    recipe = _recipe(size, samples, epochs)
    degradation = synth.TRAIN_DEGRADATION if seen_degradation else synth.UNSEEN_DEGRADATION
    try:
        results = leave_one_family_out(
            photos,
            recipe,
            seeds=tuple(range(seeds)),
            test_samples=test_samples,
            test_degradation=degradation,
            report=None if as_json else lambda line: stderr.print(line, highlight=False),
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--photos-dir") from None
    document = results_json(results, recipe, degradation)
    default = load_default()
    latency = {} if default is None else latency_ms(default)
    document["committed_model"] = None if default is None else {"version": default.version, **latency}
    document["command"] = shlex.join(["provreg", *sys.argv[1:]])
    if out is not None:
        out.write_text(json.dumps(document, indent=2) + "\n")
    if as_json:
        emit_json(document)
        return
    stdout.print(markdown_table(summarise(results)), highlight=False)
    if default is not None:
        stdout.print(
            f"\n{default.version}: score() p50 {latency['p50']:.1f} ms, p90 {latency['p90']:.1f} ms at 224 px, "
            f"{torch.get_num_threads()} thread",
            highlight=False,
        )
