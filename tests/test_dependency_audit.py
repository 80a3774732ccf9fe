"""The dependency audit (requirements/audit.py): both locks against the advisory snapshot, offline."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "requirements"
LOCAL_TORCH_WHEEL = Path("/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl")


def _load_audit() -> ModuleType:
    # requirements/ is not a package: the script is loaded from its path, as `make audit` runs it.
    spec = importlib.util.spec_from_file_location("requirements_audit", REQUIREMENTS / "audit.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


audit = _load_audit()


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _lock(tmp_path: Path, *pins: str, name: str = "hub") -> Path:
    lines = [f"{pin} \\\n    --hash=sha256:{'0' * 64}\n    # via test" for pin in pins]
    return _write(tmp_path / f"{name}.lock", "\n".join(lines) + "\n")


def test_both_locks_have_no_unaccepted_finding_and_no_stale_acceptance() -> None:
    report = audit.audit()

    assert report.ok, audit.format_report(report)


def test_the_audit_catches_known_vulnerable_pins(tmp_path: Path) -> None:
    # jinja2 2.11.2: the urlize ReDoS (CVE-2020-28493); aiohttp 3.9.1: the static-route traversal (CVE-2024-23334).
    lock = _lock(tmp_path, "jinja2==2.11.2", "aiohttp==3.9.1", "fastapi==0.165.0")

    report = audit.audit([lock], accepted=tmp_path / "none.toml")

    found = {(f.pin.name, f.advisory.id) for f in report.unaccepted}
    assert ("jinja2", "PYSEC-2021-66") in found
    assert ("aiohttp", "PYSEC-2024-24") in found
    assert not {name for name, _ in found} - {"jinja2", "aiohttp"}
    assert audit.main([str(lock), "--accepted", str(tmp_path / "none.toml")]) == 1


def _acceptance(package: str, version: str, advisory_id: str, reason: str = "a reason") -> str:
    return (
        f'[[accepted]]\nlock = "rasa"\npackage = "{package}"\nversion = "{version}"\nid = "{advisory_id}"\nreason = "{reason}"\n'
    )


def test_an_accepted_finding_passes_and_an_acceptance_without_its_finding_fails(tmp_path: Path) -> None:
    lock = _lock(tmp_path, "aiohttp==3.9.1", "jinja2==3.1.6", name="rasa")
    accepted = _write(
        tmp_path / "accepted.toml",
        _acceptance("aiohttp", "3.9.1", "PYSEC-2024-24", "no static routes are served")
        # in the snapshot, but jinja2 3.1.6 is not affected: stale
        + _acceptance("jinja2", "3.1.6", "PYSEC-2021-66"),
    )

    report = audit.audit([lock], accepted=accepted)

    assert [(f.advisory.id, a.reason) for f, a in report.accepted] == [("PYSEC-2024-24", "no static routes are served")]
    assert [a.id for a in report.stale] == ["PYSEC-2021-66"]
    assert [f.advisory.id for f in report.unaccepted] == ["PYSEC-2024-26"]  # 3.9.1's other advisory
    assert not report.ok


def test_an_advisory_outside_the_snapshot_is_accepted_while_its_version_is_locked(tmp_path: Path) -> None:
    lock = _lock(tmp_path, "setuptools==70.3.0", name="rasa")
    accepted = _write(
        tmp_path / "accepted.toml",
        _acceptance("setuptools", "70.3.0", "GHSA-5rjg-fvgr-3xxf") + _acceptance("setuptools", "70.2.0", "GHSA-0000-later"),
    )

    report = audit.audit([lock], accepted=accepted)

    assert [a.id for a in report.outside_snapshot] == ["GHSA-5rjg-fvgr-3xxf"]
    assert [a.id for a in report.stale] == ["GHSA-0000-later"]  # the pin it was written for has moved


def test_an_acceptance_must_give_its_reason(tmp_path: Path) -> None:
    accepted = _write(
        tmp_path / "accepted.toml",
        '[[accepted]]\nlock = "hub"\npackage = "x"\nversion = "1"\nid = "PYSEC-1"\nreason = " "\n',
    )

    with pytest.raises(audit.AuditError, match="gives no reason"):
        audit.load_acceptances(accepted)


@pytest.mark.parametrize(
    ("version", "affected"),
    [
        ("0.9", False),  # before introduced
        ("1.0", True),  # introduced is inclusive
        ("1.4.2", True),
        ("1.5", False),  # fixed is exclusive
        ("1.9", False),
        ("2.0", True),  # a second range: introduced 2.0, last_affected 2.1
        ("2.1", True),  # last_affected is inclusive
        ("2.1.1", False),
        ("3.0.0rc1", True),  # listed explicitly only
        ("3.0.0", False),
        ("1.2+cpu", True),  # a local build is its release
    ],
)
def test_osv_ranges_and_version_lists(version: str, affected: bool) -> None:
    advisory = audit.parse_advisory(
        {
            "id": "TEST-1",
            "affected": [
                {
                    "package": {"ecosystem": "PyPI", "name": "Some_Package"},
                    "ranges": [
                        {"type": "GIT", "events": [{"introduced": "0"}, {"fixed": "abc123"}]},
                        {"type": "ECOSYSTEM", "events": [{"introduced": "1.0"}, {"fixed": "1.5"}]},
                        {"type": "ECOSYSTEM", "events": [{"introduced": "2.0"}, {"last_affected": "2.1"}]},
                    ],
                    "versions": ["3.0.0rc1"],
                },
                {"package": {"ecosystem": "npm", "name": "other"}, "ranges": []},
            ],
        }
    )

    assert advisory is not None
    assert advisory.affects("some-package", version) is affected
    assert not advisory.affects("other", "1.0")


def test_an_advisory_open_since_zero_and_a_withdrawn_one() -> None:
    open_ended = audit.parse_advisory(
        {
            "id": "TEST-2",
            "affected": [
                {
                    "package": {"ecosystem": "PyPI", "name": "p"},
                    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}],
                }
            ],
        }
    )
    withdrawn = audit.parse_advisory({"id": "TEST-3", "withdrawn": "2024-01-01T00:00:00Z", "affected": []})

    assert open_ended is not None and open_ended.affects("p", "99.0")
    assert withdrawn is None


def test_every_pin_of_both_locks_carries_a_hash() -> None:
    for lock in audit.DEFAULT_LOCKS:
        blocks = re.split(r"\n(?=[A-Za-z0-9])", lock.read_text(encoding="utf-8"))
        pins = [block for block in blocks if re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*==", block)]
        assert pins, lock
        unhashed = [block.split()[0] for block in pins if "--hash=sha256:" not in block]
        assert not unhashed, f"{lock.name}: {unhashed}"


def test_the_hub_lock_pins_torch_to_the_local_cpu_wheel() -> None:
    text = (REQUIREMENTS / "hub.lock").read_text(encoding="utf-8")
    block = re.search(r"^torch==(\S+) \\\n((?:    --hash=sha256:\w+\s*\\?\n)+)", text, re.MULTILINE)
    assert block is not None
    assert block[1] == "2.13.0+cpu"
    hashes = re.findall(r"sha256:(\w+)", block[2])
    if LOCAL_TORCH_WHEEL.is_file():
        import hashlib

        digest = hashlib.sha256(LOCAL_TORCH_WHEEL.read_bytes()).hexdigest()
        assert hashes == [digest]
    else:
        assert len(hashes) == 1
