"""``initcli convert MODEL -o spec.yaml``: a Keras model config as an editable initcli spec."""

from __future__ import annotations

import sys
from pathlib import Path

import typer


def convert(
    model: Path = typer.Argument(
        ..., help="Keras model: model.json (from model.to_json()) or model.keras."
    ),
    output: Path | None = typer.Option(
        None, "-o", "--output", help="Write the YAML spec here (default: print it)."
    ),
    force: bool = typer.Option(False, "--force", help="Replace an existing output file."),
) -> None:
    """Convert a Keras Sequential or chain-like functional model into initcli's YAML spec,
    with each layer's kernel and bias initializer as the keras.* initializer of the same law.

    Example: initcli convert examples/keras_cnn.json -o spec.yaml && initcli run spec.yaml
    """
    from initcli.errors import EXIT_BAD_USAGE, InitcliError
    from initcli.importers.keras_config import convert_keras, to_yaml
    from initcli.network_spec import load_spec_text

    if not str(model).lower().endswith((".json", ".keras")):
        raise InitcliError(
            f"{model}: convert reads Keras models (.json from model.to_json(), or .keras); "
            "a YAML spec needs no conversion",
            EXIT_BAD_USAGE,
        )
    converted = convert_keras(model)
    text = to_yaml(converted)
    # The text must read back as a valid spec: check before anything is written.
    load_spec_text(text, f"{converted.source} (converted)", converted.spec["name"])
    if output is None:
        sys.stdout.write(text)
        return
    from initcli.outputs import ensure_directory, refuse_existing, write_text

    refuse_existing(output, "-o", force)

    ensure_directory(output.parent if str(output.parent) else Path("."), "directory", "-o")
    write_text(output, text)
    print(f"wrote {output} ({len(converted.spec['layers'])} layers from {converted.source})")


def register(app: typer.Typer) -> None:
    app.command(name="convert")(convert)
