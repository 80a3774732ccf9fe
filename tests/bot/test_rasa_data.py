"""The assistant's training data and domain pass Rasa's own validation."""

import subprocess

from hub.rasa_model import rasa_command
from hub.settings import ROOT


def test_rasa_data_validate_passes() -> None:
    result = subprocess.run(
        rasa_command(
            "data",
            "validate",
            "--config",
            "config.yml",
            "--domain",
            "bot/domain.yml",
            "--data",
            "data/nlu",
            "data/rules.yml",
            "data/stories.yml",
        ),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_every_intent_has_fifteen_examples_in_each_language() -> None:
    import yaml

    for lang in ("pt-BR", "pt-PT", "en"):
        data = yaml.safe_load((ROOT / "data" / "nlu" / f"{lang}.yml").read_text(encoding="utf-8"))
        counts = {item["intent"]: len([line for line in item["examples"].splitlines() if line.strip()]) for item in data["nlu"]}
        for intent in ("greet", "goodbye", "thank", "affirm", "deny", "request_human", "complaint", "nps_score", "faq"):
            assert counts.get(intent, 0) >= 15, f"{lang}: {intent} has {counts.get(intent, 0)} examples"
