"""The command line (Typer + Rich). Heavy libraries are imported inside commands only."""
