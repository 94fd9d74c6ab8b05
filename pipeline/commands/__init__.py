"""Subcommands of the ``mentionflow`` CLI, one module each (see ``pipeline.cli``)."""
