"""Fine-tuning: weights from any checkpoint, head swap, freezing, per-group learning rates, gradual unfreezing."""

from __future__ import annotations

import math

import lightning as L
import pytest
import torch
import torchvision
from conftest import compose_config

from zoo import create_model
from zoo.weights import WeightsError, load_pretrained
from zootrain.errors import ConfigError
from zootrain.finetune import FinetuneSpec, build_param_groups, freeze_for_run
from zootrain.run import train

QUICK = [
    "dataset.batch_size=4",  # resnet18 at 32 px: a few images per step show the schedule as well as many
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "trainer.num_sanity_val_steps=0",
]


class Snapshot(L.Callback):
    """Parameters and buffers of the network when training starts and ends, and for each epoch which groups'
    weights (convolution and linear kernels) changed during it."""

    def __init__(self):
        self.start, self.end, self.trainable = {}, {}, []

    def on_train_start(self, trainer, pl_module):
        self.start = {k: v.clone() for k, v in pl_module.net.state_dict().items()}

    def _kernels(self, pl_module):
        return {
            g: [p.detach().clone() for _, p in ps if p.ndim > 1] for g, ps in pl_module.net.parameter_groups().items()
        }

    def on_train_epoch_start(self, trainer, pl_module):
        self.epoch_start = self._kernels(pl_module)

    def on_train_epoch_end(self, trainer, pl_module):
        now = self._kernels(pl_module)
        self.trainable.append({g: any(not torch.equal(a, b) for a, b in zip(self.epoch_start[g], now[g])) for g in now})

    def on_train_end(self, trainer, pl_module):
        self.end = {k: v.clone() for k, v in pl_module.net.state_dict().items()}
        self.lrs = {g["name"]: g["lr"] for g in trainer.optimizers[0].param_groups}
        self.steps = trainer.global_step


def _keys_in(model, groups):
    layout = dict(model.group_layout())
    paths = [p for g in groups for p in layout[g]]
    return [k for k in model.state_dict() if any(k.startswith(p + ".") for p in paths)]


@pytest.mark.integration
@pytest.mark.parametrize("policy", ["eval", "frozen", "train"])
def test_frozen_groups_stay_bit_identical(make_cfg, policy):
    snap = Snapshot()
    train(
        make_cfg("model=resnet18", *QUICK, "finetune.freeze=[stem,stage1]", f"finetune.bn_policy={policy}"),
        extra_callbacks=[snap],
    )
    net = create_model("resnet18_cifar", num_classes=10, in_chans=1)
    frozen = _keys_in(net, ["stem", "stage1"])
    weights = [k for k in frozen if k.endswith("weight") or k.endswith("bias")]
    stats = [k for k in frozen if "running_" in k]
    convs = [k for k in weights if "conv" in k or "downsample.0" in k]
    assert all(torch.equal(snap.start[k], snap.end[k]) for k in convs)
    stats_same = all(torch.equal(snap.start[k], snap.end[k]) for k in stats)
    assert stats_same == (policy != "train")
    bn_affine_same = all(torch.equal(snap.start[k], snap.end[k]) for k in weights if k not in convs)
    assert bn_affine_same == (policy == "frozen")
    trained = _keys_in(net, ["stage4", "head"])
    assert not all(torch.equal(snap.start[k], snap.end[k]) for k in trained)


def test_only_trainable_parameters_reach_the_optimizer():
    net = create_model("resnet18_cifar", num_classes=10)
    spec = FinetuneSpec(freeze=["backbone"], bn_policy="frozen")
    freeze_for_run(net, spec)
    groups = build_param_groups(net, 0.1, 5e-4, spec)
    assert {g["name"].split("/")[0] for g in groups} == {"head"}
    assert all(g["weight_decay"] == 0.0 for g in groups if g["name"].endswith("no_decay"))
    assert {id(p) for g in groups for p in g["params"]} == {id(p) for p in net.fc.parameters()}


def test_a_misnamed_group_lists_the_valid_ones(make_cfg):
    with pytest.raises(ConfigError, match="valid: stem, stage1, stage2, stage3, stage4, head"):
        train(make_cfg("model=resnet18", *QUICK, "finetune.freeze=[layer1]"))


@pytest.mark.integration
def test_each_group_lr_follows_the_schedule(make_cfg):
    snap = Snapshot()
    base, decay, head_mult, steps = 0.05, 0.5, 10.0, 2
    train(
        make_cfg(
            "model=resnet18",
            *QUICK,
            f"optimizer.lr={base}",
            "scheduler=warmup_cosine",
            "scheduler.warmup_fraction=0",
            f"finetune.layer_decay={decay}",
            f"finetune.head_lr_mult={head_mult}",
            "trainer.max_epochs=2",
        ),
        extra_callbacks=[snap],
    )
    total = 2 * steps
    factor = 0.5 * (1 + math.cos(math.pi * snap.steps / total))
    names = ["stem", "stage1", "stage2", "stage3", "stage4", "head"]
    for k, name in enumerate(names):
        mult = head_mult if name == "head" else decay ** (len(names) - 1 - k)
        for suffix in ("", "/no_decay"):
            assert snap.lrs[name + suffix] == pytest.approx(base * mult * factor, rel=1e-9), name


@pytest.fixture(scope="module")
def digits_checkpoint(tmp_path_factory):
    """A resnet18 run on the digits (what each fine-tuning test starts from), trained once for the module."""
    folder = tmp_path_factory.mktemp("pretrain")
    quiet = ["trainer.accelerator=cpu", "callbacks.progress_bar.refresh_rate=0", f"paths.data_dir={folder / 'data'}"]
    return train(compose_config("train", ["model=resnet18", *quiet, *QUICK], folder / "run"))["last_model_path"]


def test_head_swap_to_fewer_classes_loads_every_other_tensor(make_cfg, digits_checkpoint):
    ckpt = digits_checkpoint
    saved = {k.removeprefix("net."): v for k, v in torch.load(ckpt, weights_only=True)["state_dict"].items()}
    net = create_model("resnet18_cifar", num_classes=5, in_chans=1)
    report = load_pretrained(net, ckpt)
    assert report.reinitialised == ["fc.weight", "fc.bias"]
    own = net.state_dict()
    assert all(torch.equal(own[k], saved[k]) for k in own if not k.startswith("fc."))
    assert net.fc.out_features == 5
    snap = Snapshot()
    result = train(
        make_cfg("model=resnet18", *QUICK, "dataset.classes=[0,1,2,3,4]", f"finetune.init_from={ckpt}"),
        extra_callbacks=[snap],
    )
    assert result["epochs"] == 1 and snap.start["fc.weight"].shape == (5, 512)
    assert torch.equal(snap.start["layer3.0.conv1.weight"], saved["layer3.0.conv1.weight"])


def test_torchvision_resnet18_weights_fine_tune(make_cfg, tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "resnet18_torchvision.pth"
    reference = torchvision.models.resnet18(weights=None).state_dict()
    torch.save(reference, path)
    snap = Snapshot()
    train(
        make_cfg(
            "model=resnet18",
            "model.variant=none",
            "dataset.image_size=64",
            *QUICK,
            f"finetune.init_from={path}",
            "finetune.freeze=[backbone]",
        ),
        extra_callbacks=[snap],
    )
    assert torch.equal(snap.start["layer4.1.conv2.weight"], reference["layer4.1.conv2.weight"])
    # digits are grey: the RGB kernels of conv1 are summed into one channel
    assert torch.allclose(snap.start["conv1.weight"], reference["conv1.weight"].sum(1, keepdim=True))
    assert snap.start["fc.weight"].shape == (10, 512)


def test_imagenet_weights_of_resnet18_train_resnet18_not_its_small_image_sibling(make_cfg, tmp_path):
    path = tmp_path / "resnet18_torchvision.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)  # no model name recorded: shapes say
    result = train(make_cfg("model=resnet18", "dataset.image_size=64", *QUICK, f"finetune.init_from={path}"))
    assert result["model"] == "resnet18"


def test_another_architecture_is_refused_naming_both(tmp_path):
    path = tmp_path / "densenet.pth"
    torch.save(torchvision.models.densenet121(weights=None).state_dict(), path)
    with pytest.raises(WeightsError, match=r"do not fit resnet18.*another architecture"):
        load_pretrained(create_model("resnet18"), path)
    torch.save(torchvision.models.resnet34(weights=None).state_dict(), path)
    with pytest.raises(WeightsError, match="resnet18"):
        load_pretrained(create_model("resnet18"), path)


@pytest.mark.parametrize(
    "strategy,expected",
    [
        (
            "freeze_unfreeze",
            [{"stage3": False, "head": True}, {"stage3": False, "head": True}, {"stage3": True, "head": True}],
        ),
        (
            "milestones",
            [{"stage3": False, "stage4": False}, {"stage3": False, "stage4": True}, {"stage3": True, "stage4": True}],
        ),
    ],
)
def test_gradual_unfreezing_thaws_groups_on_schedule(make_cfg, strategy, expected, digits_checkpoint):
    ckpt = digits_checkpoint
    snap = Snapshot()
    train(
        make_cfg(
            "model=resnet18",
            *QUICK,
            "trainer.max_epochs=3",
            f"finetune.init_from={ckpt}",
            f"finetune.strategy={strategy}",
            "finetune.unfreeze_at_epoch=2",
            "finetune.unfreeze_milestones=[1,2]",
            "finetune.backbone_lr_mult=0.1",
        ),
        extra_callbacks=[snap],
    )
    for epoch, want in enumerate(expected):
        assert {g: snap.trainable[epoch][g] for g in want} == want, epoch
    assert snap.lrs["stem"] == pytest.approx(0.1 * snap.lrs["head"])


class ReplicaWeights(L.Callback):
    """Each DDP process writes its network's final weights to ``folder/rank<k>.pt``."""

    def __init__(self, folder):
        self.folder = folder

    def on_train_end(self, trainer, pl_module):
        torch.save(pl_module.net.state_dict(), f"{self.folder}/rank{trainer.global_rank}.pt")


@pytest.mark.integration
def test_gradual_unfreezing_keeps_ddp_replicas_identical(make_cfg, tmp_path, digits_checkpoint):
    ckpt = digits_checkpoint
    train(
        make_cfg(
            "model=resnet18",
            *QUICK,
            "trainer=ddp_cpu",
            "trainer.devices=2",
            "trainer.max_epochs=2",
            f"finetune.init_from={ckpt}",
            "finetune=gradual",
            "finetune.unfreeze_at_epoch=1",
            "finetune.bn_policy=frozen",
            run="ddp",
        ),
        extra_callbacks=[ReplicaWeights(str(tmp_path))],
    )
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    start = {k.removeprefix("net."): v for k, v in torch.load(ckpt, weights_only=True)["state_dict"].items()}
    assert all(torch.equal(ranks[0][k], ranks[1][k]) for k in ranks[0])
    thawed = [k for k in _keys_in(create_model("resnet18_cifar"), ["stage1"]) if k.endswith("conv1.weight")]
    assert thawed and all(not torch.equal(ranks[0][k], start[k]) for k in thawed)  # the backbone did train


def test_freeze_is_honoured_under_gradual_unfreezing(make_cfg, digits_checkpoint):
    ckpt = digits_checkpoint
    snap = Snapshot()
    train(
        make_cfg(
            "model=resnet18",
            *QUICK,
            "trainer.max_epochs=2",
            f"finetune.init_from={ckpt}",
            "finetune.strategy=freeze_unfreeze",
            "finetune.unfreeze_at_epoch=1",
            "finetune.freeze=[stem]",
        ),
        extra_callbacks=[snap],
    )
    assert [epoch["stem"] for epoch in snap.trainable] == [False, False]  # frozen for the whole run
    assert [epoch["stage1"] for epoch in snap.trainable] == [False, True]  # thawed at epoch 1


def test_unfreezing_at_epoch_zero_trains_everything_from_the_start(make_cfg, digits_checkpoint):
    ckpt = digits_checkpoint
    snap = Snapshot()
    train(
        make_cfg(
            "model=resnet18",
            *QUICK,
            f"finetune.init_from={ckpt}",
            "finetune.strategy=freeze_unfreeze",
            "finetune.unfreeze_at_epoch=0",
        ),
        extra_callbacks=[snap],
    )
    assert all(snap.trainable[0].values())
