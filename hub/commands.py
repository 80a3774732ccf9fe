"""The ``balcao`` commands: one small function ``cmd_*(args, settings) -> exit code`` per subcommand,
chosen by ``hub.cli``'s parser. The work itself is in ``hub.operations``; a failure the user can act on
is raised as ``CommandError`` (``hub.cli.main`` prints it and exits 1)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from hub.operations import (
    CommandError,
    add_article,
    add_user,
    calibrate,
    delete_telegram_webhook,
    eval_kb,
    export_kb,
    import_kb,
    prepare,
    rebuild_summaries,
    report,
    reset_password,
    search,
    set_telegram_webhook,
    tune,
    upgrade_database,
)
from hub.settings import Settings

# --- run, serve, prepare, db -------------------------------------------------------------------


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    """``balcao run``: prepare, then serve the hub and the Rasa server until Ctrl-C; with ``--replicas``
    or ``--rasa``, the scaled setup (``hub.scaled``)."""
    from hub.preflight import check_services
    from hub.rasa_model import RasaNotInstalled, TrainingFailed
    from hub.runner import run_all

    replicas, rasa_servers = getattr(args, "replicas", None), getattr(args, "rasa", None)
    scaled = replicas is not None or rasa_servers is not None
    if scaled:
        from hub.scaled import check_scaled_settings, run_scaled

        if (replicas or 1) < 1 or (rasa_servers or 1) < 1:
            raise CommandError("--replicas and --rasa take 1 or more")
        check_scaled_settings(settings)
    check_services(settings)
    prepare(settings)
    try:
        if scaled:
            return run_scaled(settings, replicas=replicas or 2, rasa_servers=rasa_servers or 1)
        return run_all(settings)
    except (RasaNotInstalled, TrainingFailed, TimeoutError) as exc:
        raise CommandError(str(exc)) from exc


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """``balcao serve``: only the hub; refused when its database or Redis cannot be reached."""
    from hub.preflight import check_services
    from hub.runner import hub_server

    check_services(settings)
    hub_server(settings, log_level="info").run()
    return 0


def cmd_prepare(args: argparse.Namespace, settings: Settings) -> int:
    """``balcao prepare``: migrate, import the starter articles, calibrate if needed."""
    prepare(settings)
    return 0


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    """``balcao db upgrade``: apply the migrations."""
    upgrade_database(settings)
    print("database is up to date")
    return 0


# --- kb ----------------------------------------------------------------------------------------


def cmd_kb_import(args: argparse.Namespace, settings: Settings) -> int:
    """``balcao kb import``: publish a folder of Markdown articles; 1 when a file was skipped."""
    errors = asyncio.run(import_kb(settings, args.dir or settings.kb_dir, author="cli"))
    return 1 if errors else 0


def cmd_kb_export(args: argparse.Namespace, settings: Settings) -> int:
    """``balcao kb export``: write every article as Markdown."""
    asyncio.run(export_kb(settings, args.dir or settings.kb_dir))
    return 0


def _article_values(args: argparse.Namespace) -> dict[str, Any]:
    """``kb add``'s fields: from --file (front matter + body), with the flags given overriding them."""
    from kb_index.markdown import ArticleFileError, read_article_values

    values: dict[str, Any] = {}
    if args.file:
        try:
            values = {**read_article_values(args.file), "_where": str(args.file)}  # checked when added
        except (ArticleFileError, OSError) as exc:
            raise CommandError(str(exc)) from exc
    for key in ("id", "lang", "title", "team"):
        if getattr(args, key) is not None:
            values[key] = getattr(args, key)
    if args.body_file is not None:
        try:
            values["body"] = args.body_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot read --body-file: {exc}") from exc
    elif args.body is not None:
        values["body"] = args.body
    if args.question:
        values["questions"] = args.question
    if args.tag:
        values["tags"] = args.tag
    values.setdefault("team", "geral")
    return values


def cmd_kb_add(args: argparse.Namespace, settings: Settings) -> int:
    """``balcao kb add``: add one article, published unless ``--draft``."""
    added = asyncio.run(add_article(settings, _article_values(args), publish=not args.draft))
    print(f"added {added}" + (" as a draft" if args.draft else ", published"))
    return 0


def cmd_kb_search(args: argparse.Namespace, settings: Settings) -> int:
    """``balcao kb search``: what the bot would answer, as JSON."""
    print(json.dumps(asyncio.run(search(settings, args.question, args.lang)), ensure_ascii=False, indent=2))
    return 0


def cmd_kb_calibrate(args: argparse.Namespace, settings: Settings) -> int:
    """``balcao kb calibrate``: fit the thresholds; print them as JSON."""
    print(json.dumps(asyncio.run(calibrate(settings, from_kb=args.from_kb)), indent=2))
    return 0


def cmd_kb_tune(args: argparse.Namespace, settings: Settings) -> int:
    """``balcao kb tune``: fine-tune the encoder, keeping it only if it answers better."""
    result = asyncio.run(tune(settings, base=args.base, epochs=args.epochs, batch_size=args.batch_size, min_gain=args.min_gain))
    print(json.dumps(result, indent=2, ensure_ascii=False))
    if result["kept"]:
        print(f"kept: set BALCAO_ENCODER={result['candidate']} to use it (its thresholds are calibrated)", file=sys.stderr)
    else:
        print("rejected: the tuned model did not answer the validation questions better; nothing changed", file=sys.stderr)
    return 0  # a rejected candidate is an answer, not a failure


def format_eval(result: dict[str, Any]) -> str:
    """The ``balcao kb eval`` report as a few readable lines."""
    names = (
        ("in_scope_accuracy", "in-scope right (answered right + right article among options)"),
        ("answered_right", "  answered with the right article"),
        ("clarified_right", "  offered options, the right article among them"),
        ("escalated", "in-scope handed over"),
        ("wrong", "in-scope wrong (wrong answer, or options without the right one)"),
        ("oos_recall", "out-of-scope escalated"),
        ("oos_clarified", "out-of-scope offered options (handed over one tap later)"),
        ("confidently_wrong", "confidently wrong (answered, wrong article)"),
        ("top1_accuracy", "top-1 accuracy (whatever the decision)"),
        ("top3_recall", "top-3 recall"),
        ("answered", "answered outright"),
    )
    test, val = result["test"], result["validation"]
    lines = [f"encoder {result['encoder']}: {test['in_scope']} in-scope and {test['out_of_scope']} out-of-scope test questions"]
    fit = "validation" if result.get("calibrated_on", "validation questions") == "validation questions" else "the articles' own"
    lines += [f"  {label:<66}{100 * test.get(key, 0):6.1f}%   ({fit} {100 * val.get(key, 0):.1f}%)" for key, label in names]
    th = result["thresholds"]
    where = result.get("calibrated_on", "validation questions")
    lines.append(f"thresholds fitted on {where}: " + ", ".join(f"{k}={v}" for k, v in th.items()))
    return "\n".join(lines)


def cmd_kb_eval(args: argparse.Namespace, settings: Settings) -> int:
    """``balcao kb eval``: measure the search on labelled questions (no database)."""
    from kb_index import EncoderNotAvailable

    try:
        from kb_index import out_of_scope_path

        examples = args.out_of_scope or out_of_scope_path(settings.calibration_file)
        result = eval_kb(args.kb, args.val, args.test, args.encoder or settings.encoder, out_of_scope=examples)
    except (OSError, ValueError, EncoderNotAvailable) as exc:
        raise CommandError(str(exc)) from exc
    print(json.dumps(result, indent=2, ensure_ascii=False) if args.json else format_eval(result))
    return 0


# --- user, telegram, report, insights, rasa ----------------------------------------------------


def cmd_user_add(args: argparse.Namespace, settings: Settings) -> int:
    """``balcao user add``: create a staff user, printing a generated password."""
    try:
        password = asyncio.run(
            add_user(settings, email=args.email, name=args.name, role=args.role, teams=args.team, password=args.password)
        )
    except ValueError as exc:  # a short password, an e-mail already used, an unknown team
        raise CommandError(str(exc)) from exc
    print(f"created {args.email} ({args.role}); password: {password}" if not args.password else f"created {args.email}")
    return 0


def cmd_user_reset_password(args: argparse.Namespace, settings: Settings) -> int:
    """``balcao user reset-password``: a new one-time password (printed); every session of theirs ends."""
    password = asyncio.run(reset_password(settings, args.email))
    print(f"{args.email}: every session ended; one-time password (to change at the next login): {password}")
    return 0


def cmd_telegram_set_webhook(args: argparse.Namespace, settings: Settings) -> int:
    """``balcao telegram set-webhook``: register the webhook with Telegram."""
    print(f"Telegram will send updates to {asyncio.run(set_telegram_webhook(settings, args.url))}")
    return 0


def cmd_telegram_delete_webhook(args: argparse.Namespace, settings: Settings) -> int:
    """``balcao telegram delete-webhook``: unregister it."""
    asyncio.run(delete_telegram_webhook(settings))
    print("Telegram webhook removed")
    return 0


def cmd_widget_identity_secret(args: argparse.Namespace, settings: Settings) -> int:
    """``balcao widget identity-secret``: print the secret the shop's server signs its logged-in
    customers' identities with (generated on first use unless BALCAO_IDENTITY_SECRET gives it)."""
    from hub.secret_store import ensure_secrets

    print(ensure_secrets(settings).identity_secret)
    return 0


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    """``balcao report``: a period's KPIs as JSON, or one table as CSV."""
    filters = {
        k: getattr(args, k) for k in ("channel", "team_id", "agent_id", "language", "handled_by") if getattr(args, k) is not None
    }
    print(
        asyncio.run(report(settings, start=args.start, end=args.end, fmt=args.format, table=args.table, filters=filters)), end=""
    )
    return 0


def cmd_insights_rebuild(args: argparse.Namespace, settings: Settings) -> int:
    """``balcao insights rebuild``: recompute every conversation's summary."""
    print(f"rebuilt the summaries of {asyncio.run(rebuild_summaries(settings))} conversations")
    return 0


def cmd_rasa_train(args: argparse.Namespace, settings: Settings) -> int:
    """``balcao rasa train``: train the model if its data changed; print its path."""
    from hub.rasa_model import RasaNotInstalled, TrainingFailed, ensure_model

    try:
        print(ensure_model())
    except (RasaNotInstalled, TrainingFailed) as exc:
        raise CommandError(str(exc)) from exc
    return 0


# --- privacy (LGPD / GDPR) ---------------------------------------------------------------------


def cmd_privacy_export(args: argparse.Namespace, settings: Settings) -> int:
    """``balcao privacy export CUSTOMER --out FILE``: the customer's data as a zip."""
    from hub import privacy_ops

    count = asyncio.run(privacy_ops.export_customer(settings, args.customer, args.out))
    print(f"wrote {count} conversations to {args.out}")
    return 0


def cmd_privacy_erase(args: argparse.Namespace, settings: Settings) -> int:
    """``balcao privacy erase CUSTOMER --yes``: anonymise everything about them."""
    from hub import privacy_ops

    if not args.yes:
        raise CommandError("erasing cannot be undone: run it again with --yes")
    print(json.dumps(asyncio.run(privacy_ops.erase(settings, args.customer))))
    return 0


def cmd_privacy_retention(args: argparse.Namespace, settings: Settings) -> int:
    """``balcao privacy retention [--days N | --keep-all]``: show or set the retention policy."""
    from hub import privacy_ops

    change = args.days is not None or args.keep_all
    days = asyncio.run(privacy_ops.retention(settings, None if args.keep_all else args.days, change=change))
    print(f"conversations older than {days} days are anonymised" if days else "every conversation is kept")
    return 0


def cmd_privacy_run_retention(args: argparse.Namespace, settings: Settings) -> int:
    """``balcao privacy run-retention``: apply the policy now."""
    from hub import privacy_ops

    print(json.dumps(asyncio.run(privacy_ops.run_retention(settings))))
    return 0
