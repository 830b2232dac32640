"""A management command base for commands whose exit codes are part of their interface (cron, systemd)."""

from __future__ import annotations

import argparse

from django.core.management.base import BaseCommand, CommandParser


class DocumentedExitCodesCommand(BaseCommand):
    """``--help`` ends with the command's exit codes, laid out as written (``exit_codes_help``).

    Cron and systemd tell "skipped" from "broken" by the exit code, so each command documents its codes where an
    operator looks first.
    """

    exit_codes_help = ""

    def create_parser(self, prog_name: str, subcommand: str, **kwargs) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
        parser.epilog = self.exit_codes_help
        return parser
