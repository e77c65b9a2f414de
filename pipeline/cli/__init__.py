"""The `ravao` command."""
import typer

app = typer.Typer(name="ravao", no_args_is_help=True)


def main() -> None:
    app()
