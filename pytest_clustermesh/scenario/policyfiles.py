"""Where a scenario may read policy files from: its own folder, or a root the user names.

A scenario names policy files by relative path. Reading whatever a path reaches would let a
scenario pull in any file of the machine (``../../secrets.yaml``, ``/etc/...``, a symlink that
points out) and run it as if it belonged to the suite, so a path must stay inside the scenario's
folder, or under a policy root named in the ini file (``clustermesh_policy_root``) for suites
that share policies between folders. Symlinks are followed before the check.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

POLICY_SUFFIXES = (".yaml", ".yml")


class PolicyPathError(ValueError):
    """A policy reference that is not a readable file inside the allowed folders."""


@dataclass(frozen=True)
class PolicyFolders:
    """The folders a scenario's policy files must lie in."""

    scenario_dir: Path
    roots: Sequence[Path] = ()
    confined: bool = True
    """``False`` for scenarios a Python test builds: its code may read any file anyway."""

    @property
    def allowed(self) -> list[Path]:
        return [self.scenario_dir.resolve(), *(root.resolve() for root in self.roots)]

    def describe(self) -> str:
        folders = [f"the scenario's folder {self.scenario_dir}"]
        folders += [f"the policy root {root}" for root in self.roots]
        return " or ".join(folders)

    def resolve(self, ref: str) -> Path:
        """The file ``ref`` names, checked to be inside the allowed folders and to be a file.

        Raises :class:`PolicyPathError` saying what is wrong and what would be valid.
        """
        if not ref.strip():
            raise PolicyPathError("an empty policy file name")
        written = Path(ref)
        candidate = written if written.is_absolute() else self.scenario_dir / written
        resolved = candidate.resolve()
        if self.confined and not any(resolved.is_relative_to(f) for f in self.allowed):
            raise PolicyPathError(
                f"policy file {ref!r} {self._how_it_leaves(written, candidate, resolved)}; "
                f"policy files must be in {self.describe()} (set clustermesh_policy_root in "
                "the ini file to share policies between folders)"
            )
        if resolved.is_dir():
            raise PolicyPathError(f"{ref!r} is a folder, not a policy file")
        if not resolved.exists():
            hint = self._close_match(candidate)
            suggestion = f" (did you mean {hint!r}?)" if hint else ""
            raise PolicyPathError(
                f"policy file {ref!r} not found in {candidate.parent}{suggestion}"
            )
        if not resolved.is_file():
            raise PolicyPathError(f"{ref!r} is not a regular file")
        return resolved

    def _how_it_leaves(self, written: Path, candidate: Path, resolved: Path) -> str:
        if written.is_absolute():
            return "is an absolute path outside the allowed folders"
        lexical = Path(os.path.normpath(candidate.absolute()))
        if not any(lexical.is_relative_to(os.path.normpath(f)) for f in self._lexical_roots()):
            return "leads out of the allowed folders with '..'"
        return f"is a symbolic link to {resolved}, outside the allowed folders"

    def _lexical_roots(self) -> list[Path]:
        return [self.scenario_dir.absolute(), *(root.absolute() for root in self.roots)]

    @staticmethod
    def _close_match(candidate: Path) -> str | None:
        """A policy file beside ``candidate`` whose name resembles it."""
        try:
            names = [
                p.name
                for p in candidate.parent.iterdir()
                if p.suffix in POLICY_SUFFIXES and ".scenario." not in p.name
            ]
        except OSError:
            return None
        hint = difflib.get_close_matches(candidate.name, names, n=1)
        return hint[0] if hint else None


def looks_like_file(ref: str) -> bool:
    """Whether a policy reference is meant as a file (rather than a name under ``policies``)."""
    return ref.endswith(POLICY_SUFFIXES) or "/" in ref or os.sep in ref
