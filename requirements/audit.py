"""Offline audit of the lock files against a snapshot of the PyPA advisory database.

The online vulnerability services (PyPI's JSON API, OSV.dev) are not reachable from the machines this
project is built on, and no maintained tool reads an advisory database from disk (pip-audit, uv audit
and pysentry only query those services), so this script reads the OSV-format YAML files of a snapshot of
https://github.com/pypa/advisory-database kept in ``requirements/advisories/`` and checks every pinned
``name==version`` of ``requirements/*.lock`` against their affected ranges with ``packaging``.

A finding listed in ``requirements/accepted.toml`` (lock, package, version, advisory id and the reason it
is accepted) is reported but does not fail the audit; any other finding does, and so does an acceptance
that no longer matches a finding (the pin moved: the entry must be reviewed or removed). An acceptance may
also name an advisory the snapshot does not hold (published after it, or only in GitHub's database): the
audit cannot judge it, so it only checks that the lock still pins that version.

Usage::

    python requirements/audit.py                    # audit requirements/*.lock, exit 1 on a failure
    python requirements/audit.py --refresh-snapshot /path/to/advisory-database
                                                    # copy that checkout's advisories for the locked packages
"""

from __future__ import annotations

import argparse
import functools
import re
import shutil
import sys
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

HERE = Path(__file__).resolve().parent
DEFAULT_LOCKS = (HERE / "hub.lock", HERE / "rasa.lock")
DEFAULT_SNAPSHOT = HERE / "advisories"
DEFAULT_ACCEPTED = HERE / "accepted.toml"

# A pinned line of a pip-compile lock: "name==version", maybe followed by a marker and " \".
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")


class AuditError(Exception):
    """The audit's inputs are unreadable (a missing lock, a malformed advisory or acceptance)."""


@dataclass(frozen=True)
class Pin:
    """One ``name==version`` line of a lock file."""

    lock: str  # the lock's stem: "hub" or "rasa"
    name: str  # canonical (PEP 503) name
    version: str


@dataclass(frozen=True)
class Advisory:
    """The part of one OSV advisory the audit needs: which versions of which packages it affects."""

    id: str
    aliases: tuple[str, ...]
    summary: str
    affected: tuple[tuple[str, tuple[tuple[tuple[str, str], ...], ...], frozenset[str]], ...]
    # ((canonical package name, ECOSYSTEM ranges as event tuples, explicitly listed versions), ...)

    def affects(self, name: str, version: str) -> bool:
        """True when ``name==version`` lies in one of this advisory's affected ranges or version lists."""
        for package, ranges, versions in self.affected:
            if package != name:
                continue
            if _listed(version, versions):
                return True
            if any(_in_range(version, events) for events in ranges):
                return True
        return False


@dataclass(frozen=True)
class Finding:
    """A locked pin that an advisory affects."""

    pin: Pin
    advisory: Advisory

    @property
    def key(self) -> tuple[str, str, str, str]:
        """What an acceptance names: lock, package, version, advisory id."""
        return (self.pin.lock, self.pin.name, self.pin.version, self.advisory.id)


@dataclass(frozen=True)
class Acceptance:
    """One entry of ``accepted.toml``: a finding the project lives with, and why."""

    lock: str
    package: str
    version: str
    id: str
    reason: str

    @property
    def key(self) -> tuple[str, str, str, str]:
        """The finding this acceptance covers."""
        return (self.lock, self.package, self.version, self.id)


@dataclass(frozen=True)
class Report:
    """The audit's outcome: accepted findings, unaccepted ones, and acceptances matching nothing."""

    accepted: tuple[tuple[Finding, Acceptance], ...]
    unaccepted: tuple[Finding, ...]
    stale: tuple[Acceptance, ...]
    outside_snapshot: tuple[Acceptance, ...] = ()  # advisories the snapshot lacks, for pins still locked

    @property
    def ok(self) -> bool:
        """True when nothing needs a decision: every finding is accepted and every acceptance is used."""
        return not self.unaccepted and not self.stale


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def _listed(version: str, versions: frozenset[str]) -> bool:
    if version in versions:
        return True
    parsed = _version(version)
    # A local build ("2.13.0+cpu") is the release it was built from.
    return parsed is not None and parsed.public in versions


def _in_range(version: str, events: Sequence[tuple[str, str]]) -> bool:
    """OSV's evaluation of one ECOSYSTEM range (https://ossf.github.io/osv-schema/#evaluation)."""
    parsed = _version(version)
    if parsed is None:
        return False
    ordered: list[tuple[Version, str]] = []
    for kind, bound in events:
        if kind == "limit":
            continue  # limits only bound git ranges' walks; ECOSYSTEM ranges don't need them
        if kind == "introduced" and bound == "0":
            ordered.append((Version("0"), kind))
            continue
        bound_version = _version(bound)
        if bound_version is None:
            raise AuditError(f"unparsable version {bound!r} in an advisory's range")
        ordered.append((bound_version, kind))
    ordered.sort(key=lambda event: event[0])
    affected = False
    for bound_version, kind in ordered:
        if kind == "introduced" and parsed >= bound_version:
            affected = True
        elif (kind == "fixed" and parsed >= bound_version) or (kind == "last_affected" and parsed > bound_version):
            affected = False
    return affected


def parse_advisory(data: Mapping[str, Any], *, source: str = "") -> Advisory | None:
    """Read one OSV record; None for a withdrawn advisory (it no longer claims anything)."""
    if data.get("withdrawn"):
        return None
    try:
        affected = []
        for entry in data.get("affected") or ():
            package = entry["package"]
            if package.get("ecosystem") != "PyPI":
                continue
            ranges = tuple(
                tuple((kind, str(bound)) for event in r.get("events", ()) for kind, bound in event.items())
                for r in entry.get("ranges") or ()
                if r.get("type") == "ECOSYSTEM"
            )
            versions = frozenset(str(v) for v in entry.get("versions") or ())
            affected.append((canonicalize_name(package["name"]), ranges, versions))
        return Advisory(
            id=str(data["id"]),
            aliases=tuple(str(a) for a in data.get("aliases") or ()),
            summary=str(data.get("summary") or data.get("details") or "").strip().split("\n")[0][:160],
            affected=tuple(affected),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise AuditError(f"malformed advisory {source or data.get('id')}: {exc!r}") from exc


def load_advisories(snapshot: Path) -> list[Advisory]:
    """Every advisory under ``snapshot/vulns`` (YAML as in the PyPA database, or OSV JSON)."""
    vulns = snapshot / "vulns"
    if not vulns.is_dir():
        raise AuditError(f"no advisory snapshot at {vulns}")
    advisories = []
    for path in sorted(vulns.rglob("*")):
        if path.suffix not in {".yaml", ".yml", ".json"}:
            continue
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - a safe loader, the C one when built
        advisory = parse_advisory(data, source=str(path))
        if advisory is not None:
            advisories.append(advisory)
    return advisories


@functools.lru_cache(maxsize=4)
def _cached_advisories(snapshot: Path) -> tuple[Advisory, ...]:
    # Parsing the YAML is most of an audit's time; tests audit several locks against one snapshot.
    return tuple(load_advisories(snapshot))


def read_lock(path: Path) -> list[Pin]:
    """The ``name==version`` pins of a pip-compile lock file (hash and comment lines skipped)."""
    if not path.is_file():
        raise AuditError(f"no lock file at {path}")
    pins = []
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _PIN.match(line)
        if match:
            pins.append(Pin(lock=path.stem, name=canonicalize_name(match[1]), version=match[2]))
    return pins


def load_acceptances(path: Path) -> list[Acceptance]:
    """The entries of ``accepted.toml`` (``[[accepted]]`` tables with lock, package, version, id, reason)."""
    if not path.is_file():
        return []
    try:
        entries = tomllib.loads(path.read_text(encoding="utf-8")).get("accepted", [])
        acceptances = [
            Acceptance(
                lock=e["lock"],
                package=canonicalize_name(e["package"]),
                version=e["version"],
                id=e["id"],
                reason=e["reason"].strip(),
            )
            for e in entries
        ]
    except (tomllib.TOMLDecodeError, KeyError, AttributeError) as exc:
        raise AuditError(f"malformed {path}: {exc!r}") from exc
    for acceptance in acceptances:
        if not acceptance.reason:
            raise AuditError(f"{path}: the acceptance of {acceptance.id} for {acceptance.package} gives no reason")
    return acceptances


def find(pins: Iterable[Pin], advisories: Sequence[Advisory]) -> list[Finding]:
    """Every (pin, advisory) pair where the advisory affects the pinned version."""
    by_package: dict[str, list[Advisory]] = {}
    for advisory in advisories:
        for package in {name for name, _, _ in advisory.affected}:
            by_package.setdefault(package, []).append(advisory)
    return [
        Finding(pin, advisory)
        for pin in pins
        for advisory in by_package.get(pin.name, ())
        if advisory.affects(pin.name, pin.version)
    ]


def audit(
    locks: Sequence[Path] = DEFAULT_LOCKS,
    *,
    snapshot: Path = DEFAULT_SNAPSHOT,
    accepted: Path = DEFAULT_ACCEPTED,
) -> Report:
    """Audit the locks against the snapshot and sort the findings by the acceptances."""
    advisories = _cached_advisories(snapshot.resolve())
    pins = [pin for lock in locks for pin in read_lock(lock)]
    findings = find(pins, advisories)
    acceptances = {a.key: a for a in load_acceptances(accepted)}
    audited_locks = {lock.stem for lock in locks}
    known_ids = {i for advisory in advisories for i in (advisory.id, *advisory.aliases)}
    locked = {(pin.lock, pin.name, pin.version) for pin in pins}
    matched = [(f, acceptances[f.key]) for f in findings if f.key in acceptances]
    used = {f.key for f, _ in matched}
    unused = [a for k, a in acceptances.items() if k not in used and a.lock in audited_locks]
    outside = [a for a in unused if a.id not in known_ids and (a.lock, a.package, a.version) in locked]
    return Report(
        accepted=tuple(matched),
        unaccepted=tuple(f for f in findings if f.key not in acceptances),
        stale=tuple(a for a in unused if a not in outside),
        outside_snapshot=tuple(outside),
    )


def snapshot_commit(snapshot: Path) -> str:
    """The 'Commit:' and 'Date:' lines of the snapshot's README, for the report's first line."""
    readme = snapshot / "README.md"
    if not readme.is_file():
        return "unknown snapshot"
    lines = [line.strip("- ") for line in readme.read_text(encoding="utf-8").splitlines()]
    return ", ".join(line for line in lines if line.startswith(("Commit:", "Date:"))) or "unknown snapshot"


def format_report(report: Report, *, snapshot: Path = DEFAULT_SNAPSHOT) -> str:
    """A human-readable account of the audit, one line per finding."""
    out = [f"Advisory snapshot: {snapshot_commit(snapshot)}"]
    for finding in report.unaccepted:
        aliases = ", ".join(finding.advisory.aliases)
        out.append(
            f"VULNERABLE {finding.pin.lock}: {finding.pin.name}=={finding.pin.version} "
            f"{finding.advisory.id} ({aliases}) {finding.advisory.summary}"
        )
    for acceptance in report.stale:
        out.append(
            f"STALE ACCEPTANCE {acceptance.lock}: {acceptance.package}=={acceptance.version} {acceptance.id} "
            "matches no finding any more: remove it from accepted.toml"
        )
    for finding, _ in report.accepted:
        out.append(f"accepted {finding.pin.lock}: {finding.pin.name}=={finding.pin.version} {finding.advisory.id}")
    for acceptance in report.outside_snapshot:
        pin = f"{acceptance.package}=={acceptance.version}"
        out.append(f"accepted, not in the snapshot {acceptance.lock}: {pin} {acceptance.id}")
    out.append(
        f"{len(report.unaccepted)} unaccepted, {len(report.accepted)} accepted, {len(report.stale)} stale acceptances, "
        f"{len(report.outside_snapshot)} accepted advisories outside the snapshot"
    )
    return "\n".join(out)


def refresh_snapshot(database: Path, locks: Sequence[Path], *, snapshot: Path = DEFAULT_SNAPSHOT) -> int:
    """Replace ``snapshot/vulns`` by the checkout's advisories for the locked packages; return their count.

    The README (source, commit, date) is left for the caller to update: a checkout does not say its date.
    """
    source = database / "vulns"
    if not source.is_dir():
        raise AuditError(f"{database} is not a checkout of the advisory database (no vulns/)")
    wanted = {pin.name for lock in locks for pin in read_lock(lock)}
    target = snapshot / "vulns"
    _cached_advisories.cache_clear()
    if target.exists():
        shutil.rmtree(target)
    count = 0
    for package_dir in sorted(p for p in source.iterdir() if p.is_dir()):
        if canonicalize_name(package_dir.name) in wanted:
            shutil.copytree(package_dir, target / package_dir.name)
            count += sum(1 for _ in (target / package_dir.name).glob("*.yaml"))
    shutil.copy2(database / "LICENSE", snapshot / "LICENSE")
    return count


def main(argv: Sequence[str] | None = None) -> int:
    """Run the audit (or refresh the snapshot) from the command line; exit 1 on any failure."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("locks", nargs="*", type=Path, default=list(DEFAULT_LOCKS))
    parser.add_argument("--snapshot", type=Path, default=DEFAULT_SNAPSHOT)
    parser.add_argument("--accepted", type=Path, default=DEFAULT_ACCEPTED)
    parser.add_argument("--refresh-snapshot", type=Path, metavar="DATABASE_CHECKOUT")
    args = parser.parse_args(argv)
    try:
        if args.refresh_snapshot:
            count = refresh_snapshot(args.refresh_snapshot, args.locks, snapshot=args.snapshot)
            print(f"{count} advisories copied to {args.snapshot / 'vulns'}; update {args.snapshot / 'README.md'}")
            return 0
        report = audit(args.locks, snapshot=args.snapshot, accepted=args.accepted)
    except AuditError as exc:
        print(f"audit: {exc}", file=sys.stderr)
        return 1
    print(format_report(report, snapshot=args.snapshot))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
