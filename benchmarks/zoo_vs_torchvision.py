"""Training throughput (forward + backward + SGD step, images/s) of zoo models against torchvision's same architecture.

Both sides get the same batch of synthetic images, the same loss (auxiliary outputs weighted by the zoo model's
``aux_weights``), the same SGD and the same precision, memory format and compilation. Each side warms up alone;
then timed steps alternate zoo, torchvision, zoo, torchvision, ... Peak CUDA memory is that of each side's last
warm-up step (after autotuning), net of the memory the other side already held.

    python benchmarks/zoo_vs_torchvision.py                                  # GPU: resnet50 vgg16 densenet121
    python benchmarks/zoo_vs_torchvision.py --sweep --json zoo_vs_tv.json    # fp32, bf16+channels_last, +compile
    python benchmarks/zoo_vs_torchvision.py --device cpu --models resnet50   # small CPU run
"""

from __future__ import annotations

import functools

import torch
import torchvision
from common import (
    Setting,
    allocated_bytes,
    build_parser,
    check_zoo_names,
    fmt,
    format_table,
    interleave,
    measure_all,
    parse_args,
    peak_memory_mib,
    prepare_model,
    publish,
    reset_peak_memory,
    setup_backend,
    sgd,
    step_stats,
    synthetic_images,
    timed,
    train_step,
)

from zoo import count_parameters, create_model

NUM_CLASSES = 1000
DEFAULT_MODELS = ["resnet50", "vgg16", "densenet121"]
CPU_DEFAULTS = {"models": DEFAULT_MODELS, "batch_size": 8, "image_size": 64, "steps": 20, "warmup": 3}
CUDA_DEFAULTS = {"models": DEFAULT_MODELS, "batch_size": 128, "image_size": 224, "steps": 30, "warmup": 10}
# torchvision builder arguments that make its model match the zoo's (auxiliary heads on, paper-style init)
TORCHVISION_KWARGS = {
    "inception_v3": {"aux_logits": True, "init_weights": True},
    "googlenet": {"aux_logits": True, "init_weights": True},
}
FIXED_IMAGE_SIZE = {"inception_v3": 299}  # torchvision's auxiliary head needs a 17x17 Mixed_6e map


def torchvision_names() -> set[str]:
    return set(torchvision.models.list_models(module=torchvision.models))


def compare(name: str, setting: Setting, args) -> dict:
    device, batch_size = args.device, args.batch_size
    image_size = FIXED_IMAGE_SIZE.get(name, args.image_size)
    images, labels = synthetic_images(batch_size, 3, image_size, NUM_CLASSES)
    builders = {
        "zoo": lambda: create_model(name, num_classes=NUM_CLASSES, in_chans=3),
        "torchvision": lambda: torchvision.models.get_model(
            name, num_classes=NUM_CLASSES, **TORCHVISION_KWARGS.get(name, {})
        ),
    }
    aux_weights = None
    runs, sides = {}, {}
    for side, build in builders.items():
        torch.manual_seed(0)
        held_by_others = allocated_bytes(device)  # constant while this side steps: the other side is idle
        model = prepare_model(build(), device, setting)
        aux_weights = tuple(model.aux_weights) if aux_weights is None else aux_weights  # the zoo side comes first
        memory_format = torch.channels_last if setting.channels_last else torch.contiguous_format
        x = images.to(device).contiguous(memory_format=memory_format)
        step = functools.partial(
            train_step, model, sgd(model.parameters(), device), x, labels.to(device), aux_weights, setting.precision
        )
        for _ in range(args.warmup - 1):
            step()
        reset_peak_memory(device)
        step()
        sides[side] = {"params": count_parameters(model), "peak_memory_mib": peak_memory_mib(device, held_by_others)}
        runs[side] = lambda step=step: [timed(step, device)]
    times = interleave(runs, args.steps)
    for side, record in sides.items():
        record.update(step_stats(times[side], batch_size), step_times_s=times[side])
    return {
        "model": name,
        "setting": setting.label,
        "precision": setting.precision,
        "channels_last": setting.channels_last,
        "compile": setting.compile,
        "image_size": image_size,
        "batch_size": batch_size,
        **sides,
        "ratio_zoo_over_torchvision": sides["zoo"]["images_per_s"] / sides["torchvision"]["images_per_s"],
    }


def table(results: list[dict]) -> str:
    headers = [
        "model",
        "setting",
        "image",
        "batch",
        "zoo img/s",
        "tv img/s",
        "zoo/tv",
        "zoo MiB",
        "tv MiB",
        "params zoo/tv (M)",
    ]
    rows = []
    for r in results:
        zoo, tv = r["zoo"], r["torchvision"]
        params = f"{zoo['params'] / 1e6:.2f}/{tv['params'] / 1e6:.2f}" + ("" if zoo["params"] == tv["params"] else " *")
        rows.append(
            [
                r["model"],
                r["setting"],
                r["image_size"],
                r["batch_size"],
                fmt(zoo["images_per_s"]),
                fmt(tv["images_per_s"]),
                fmt(r["ratio_zoo_over_torchvision"], 3),
                fmt(zoo["peak_memory_mib"], 0),
                fmt(tv["peak_memory_mib"], 0),
                params,
            ]
        )
    text = format_table(headers, rows)
    if any(r["zoo"]["params"] != r["torchvision"]["params"] for r in results):
        text += "\n* parameter counts differ: torchvision's model is not the same architecture"
    return text


def main(argv=None) -> list[dict]:
    parser = build_parser(__doc__, CPU_DEFAULTS, CUDA_DEFAULTS)
    args = parse_args(parser, argv)
    check_zoo_names(parser, args.models)
    missing = sorted(set(args.models) - torchvision_names())
    if missing:
        parser.error(f"no torchvision model of the same name: {', '.join(missing)}")
    setup_backend(args.device)
    results = measure_all(
        args, compare, lambda name, setting: f"warm-up {args.warmup}, then {args.steps} timed steps per side"
    )
    publish(
        results,
        f"Train step (forward + backward + SGD) on {args.device}: images/s from the median of "
        f"{args.steps} interleaved steps after {args.warmup} warm-up; MiB = peak CUDA memory allocated",
        table(results),
        "zoo_vs_torchvision",
        args,
    )
    return results


if __name__ == "__main__":
    main()
