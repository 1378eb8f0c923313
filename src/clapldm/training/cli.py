"""``clapldm train | export | assemble | preencode`` (registered by `clapldm.cli`)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from clapldm.errors import ConfigError

logger = logging.getLogger(__name__)


def _devices(value: str) -> int | str:
    return int(value) if value.isdigit() else value


def register(sub: Any) -> None:
    p = sub.add_parser(
        "train",
        help="train a stage: clap, vae, vocoder or ldm",
        description="Train one stage with PyTorch Lightning (1 CPU, N GPUs with DDP, "
        "several nodes). Checkpoints are atomic; --resume continues from the exact step.",
    )
    p.add_argument("stage", choices=["clap", "vae", "vocoder", "ldm"])
    p.add_argument(
        "--config", default=None, help="training config JSON (default with --resume: the run's)"
    )
    p.add_argument(
        "--data",
        default=None,
        help="manifest (.jsonl/.csv), shard folder/.tar/glob, or pre-encoded folder",
    )
    p.add_argument("--out", required=True, help="run folder (checkpoints, logs, config)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from the run folder's newest complete checkpoint",
    )
    p.add_argument("--devices", type=_devices, default=1, help="devices per node (int or 'auto')")
    p.add_argument("--accelerator", default="auto", help="cpu, gpu, auto")
    p.add_argument("--strategy", default="auto", help="auto, ddp, ddp_spawn, ...")
    p.add_argument("--num-nodes", type=int, default=1)
    p.add_argument(
        "--precision", default=None, help="32-true, bf16-mixed, 16-mixed (default: the config's)"
    )
    p.add_argument("--max-steps", type=int, default=None, help="override train.max_steps")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set train.lr=3e-4 (repeatable)",
    )
    p.add_argument(
        "--progress", dest="progress", action="store_true", default=None, help="rich progress bar"
    )
    p.add_argument("--no-progress", dest="progress", action="store_false")
    finetune = p.add_argument_group(
        "fine-tuning (ldm)",
        "start from a loadable model; --data may then be a plain folder of audio files",
    )
    finetune.add_argument(
        "--init",
        default=None,
        metavar="MODEL",
        help="'bundled', a native or diffusers folder, an original .ckpt, or a hub id: "
        "its UNet is the starting point, its VAE / CLAP / mel config are kept",
    )
    finetune.add_argument(
        "--lora-rank", type=int, default=None, help="train rank-R LoRA adapters only (base frozen)"
    )
    finetune.add_argument(
        "--lora-alpha", type=float, default=None, help="LoRA alpha (default: the rank)"
    )
    finetune.add_argument(
        "--lora-targets",
        nargs="+",
        default=None,
        metavar="TARGET",
        help="groups (attention, ff, conv) or UNet layer-name suffixes (default: attention)",
    )
    finetune.add_argument("--lora-dropout", type=float, default=None)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "export", help="training run -> native component folder (EMA weights for the LDM)"
    )
    p.add_argument("run_dir")
    p.add_argument("-o", "--output", required=True)
    p.add_argument(
        "--checkpoint",
        default=None,
        help="a specific checkpoint (default: the newest complete one)",
    )
    p.add_argument(
        "--no-ema", action="store_true", help="export the raw weights even when the run kept an EMA"
    )
    p.add_argument(
        "--vocoder",
        default=None,
        help="LDM: 'universal' or a vocoder folder -> write a full model folder",
    )
    p.add_argument(
        "--component-only", action="store_true", help="LDM: write only the UNet component folder"
    )
    p.add_argument(
        "--format",
        dest="fmt",
        choices=["auto", "adapter", "full"],
        default="auto",
        help="fine-tuning runs: an adapter folder (LoRA) or a full model folder "
        "(adapters merged); auto = adapter for LoRA runs",
    )
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("assemble", help="CLAP + VAE + UNet + vocoder folders -> a model folder")
    p.add_argument("--clap", required=True)
    p.add_argument("--vae", required=True)
    p.add_argument("--unet", required=True)
    p.add_argument("--vocoder", required=True, help="a vocoder component folder or 'universal'")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--name", default=None)
    p.add_argument("--max-duration", type=float, default=None)
    p.add_argument(
        "--scale-factor", type=float, default=None, help="override the LDM's latent scale factor"
    )
    p.add_argument("--default-steps", type=int, default=None)
    p.add_argument("--default-sampler", default=None)
    p.add_argument("--default-guidance", type=float, default=None)
    p.set_defaults(func=cmd_assemble)

    p = sub.add_parser("preencode", help="encode a corpus once with the LDM config's VAE and CLAP")
    p.add_argument(
        "--config", default=None, help="ldm training config (names ldm.vae and ldm.clap)"
    )
    p.add_argument(
        "--init", default=None, metavar="MODEL", help="encode with this model's VAE and CLAP"
    )
    p.add_argument("--data", required=True, help="manifest or audio shards")
    p.add_argument("--out", required=True, help="folder for the pre-encoded shards")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument(
        "--max-seconds",
        type=float,
        default=None,
        help="cut longer clips (default ldm.max_duration)",
    )
    p.add_argument(
        "--clap-seconds",
        type=float,
        default=0.0,
        help="zero-pad shorter clips to this length before the CLAP audio embedding",
    )
    p.add_argument("--shard-size", type=int, default=2000)
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--clap-features",
        default=None,
        metavar="DIR",
        help="CLAP features pre-encoded from the same data (reused for the audio embeddings)",
    )
    p.add_argument(
        "--part",
        default="1/1",
        metavar="K/N",
        help="clap config: encode every N-th clip from the K-th (run N processes in parallel)",
    )
    p.add_argument(
        "--no-text",
        action="store_true",
        help="skip caption text embeddings (only ldm.condition text/mixed reads them)",
    )
    p.set_defaults(func=cmd_preencode)


def _enable_info_logging() -> None:
    root = logging.getLogger("clapldm")
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)
    if not any(
        isinstance(h, logging.StreamHandler) for h in logging.getLogger().handlers + root.handlers
    ):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        root.addHandler(handler)


def cmd_train(args: argparse.Namespace) -> int:
    from clapldm.training.config import (
        apply_overrides,
        load_training_config,
        parse_training_config,
    )
    from clapldm.training.runner import CONFIG_FILE, train

    _enable_info_logging()
    overrides = list(args.set)
    if args.max_steps is not None:
        overrides.append(f"train.max_steps={args.max_steps}")
    overrides.extend(_lora_overrides(args))
    run = None
    init_model = None
    if args.init is not None:
        if args.stage != "ldm":
            raise ConfigError("--init fine-tunes the ldm stage")
        run, init_model = _init_run(args.init, args.config, overrides)
    elif any(o.startswith("ldm.lora_") for o in overrides) and not args.resume:
        raise ConfigError("--lora-* options need --init MODEL (the model the adapters wrap)")
    elif args.config is not None:
        run = load_training_config(args.config, overrides)
    elif args.resume and (Path(args.out) / CONFIG_FILE).is_file():
        saved = json.loads((Path(args.out) / CONFIG_FILE).read_text(encoding="utf-8"))
        run = parse_training_config(
            apply_overrides(saved, overrides), str(Path(args.out) / CONFIG_FILE)
        )
    else:
        raise ConfigError("pass --config (or --resume with a run folder that has one)")
    if run.stage != args.stage:
        raise ConfigError(f"the config is for stage {run.stage!r}, not {args.stage!r}")
    result = train(
        run,
        args.data,
        args.out,
        resume=args.resume,
        devices=args.devices,
        strategy=args.strategy,
        num_nodes=args.num_nodes,
        accelerator=args.accelerator,
        precision=args.precision,
        progress=args.progress,
        init_model=init_model,
    )
    if result.checkpoint is not None:
        logger.info("finished at step %d; checkpoint %s", result.train_step, result.checkpoint)
    return 130 if result.interrupted else 0


def _lora_overrides(args: argparse.Namespace) -> list[str]:
    values = {
        "lora_rank": args.lora_rank,
        "lora_alpha": args.lora_alpha,
        "lora_targets": args.lora_targets,
        "lora_dropout": args.lora_dropout,
    }
    return [f"ldm.{k}={json.dumps(v)}" for k, v in values.items() if v is not None]


def _init_run(init: str, config: str | None, overrides: list[str]) -> tuple[Any, Any]:
    """(the fine-tuning run, the loaded model) for ``--init``."""
    from clapldm.training.config import LdmTrainConfig, apply_overrides
    from clapldm.training.finetune import BUNDLED, init_run, load_init_model

    data = None
    if config is not None:
        try:
            data = json.loads(Path(config).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{config}: not a readable JSON config ({exc})") from None
    path = Path(init).expanduser()
    source = str(path.resolve()) if init != BUNDLED and path.exists() else init
    # The loader options (e.g. an original .ckpt's tokenizer) from the config and --set.
    ldm = {"ldm": dict((data or {}).get("ldm", {}))}
    wanted = [o for o in overrides if o.startswith("ldm.init_options")]
    options = dict(apply_overrides(ldm, wanted)["ldm"].get("init_options", {}))
    model = load_init_model(LdmTrainConfig(init=source, init_options=options))
    return init_run(source, model, data, overrides), model


def cmd_export(args: argparse.Namespace) -> int:
    from clapldm.training.export import export_run

    _enable_info_logging()
    out = export_run(
        args.run_dir,
        args.output,
        checkpoint=args.checkpoint,
        use_ema=not args.no_ema,
        vocoder=args.vocoder,
        component_only=args.component_only,
        fmt=args.fmt,
    )
    print(out)
    return 0


def cmd_assemble(args: argparse.Namespace) -> int:
    from clapldm.config import PipelineConfig
    from clapldm.training.export import assemble

    _enable_info_logging()
    base = PipelineConfig()
    changes: dict[str, Any] = {}
    if args.default_steps is not None:
        changes["default_steps"] = args.default_steps
    if args.default_sampler is not None:
        changes["default_sampler"] = args.default_sampler
    if args.default_guidance is not None:
        changes["default_guidance_scale"] = args.default_guidance
    out = assemble(
        clap=args.clap,
        vae=args.vae,
        unet=args.unet,
        vocoder=args.vocoder,
        output=args.output,
        name=args.name,
        max_duration=args.max_duration,
        scale_factor=args.scale_factor,
        pipeline=base.replace(**changes),
    )
    print(out)
    return 0


def cmd_preencode(args: argparse.Namespace) -> int:
    from clapldm.training.config import load_training_config, resolve_paths
    from clapldm.training.preencode import preencode, preencode_clap_features

    _enable_info_logging()
    if args.init is not None:
        run = resolve_paths(_init_run(args.init, args.config, list(args.set))[0])
    elif args.config is not None:
        run = resolve_paths(load_training_config(args.config, list(args.set)))
    else:
        raise ConfigError("pass --config (an ldm training config) or --init MODEL")

    def progress(done: int, total: int) -> None:
        if done % 100 == 0 or done == total:
            logger.info("pre-encoded %d/%d clips", done, total)

    if run.stage == "clap":
        index_k, _, count_n = args.part.partition("/")
        if not (index_k.isdigit() and count_n.isdigit()):
            raise ConfigError(f"--part {args.part!r}: expected K/N, e.g. 1/2")
        count = preencode_clap_features(
            run,
            args.data,
            args.out,
            max_seconds=args.max_seconds,
            device=args.device,
            part=(int(index_k), int(count_n)),
            progress=progress,
        )
        print(f"{count} clips -> {args.out}")
        return 0
    count = preencode(
        run,
        args.data,
        args.out,
        max_seconds=args.max_seconds,
        clap_seconds=args.clap_seconds,
        shard_size=args.shard_size,
        device=args.device,
        progress=progress,
        clap_features=args.clap_features,
        text_embeddings=not args.no_text,
    )
    print(f"{count} samples -> {args.out}")
    return 0


__all__ = ["register"]
