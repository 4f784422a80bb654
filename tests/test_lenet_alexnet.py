"""LeNet-5 and AlexNet against their papers: parameter counts, connectivity, LRN math, init, shapes."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from zoo import count_parameters, create_model, model_info
from zoo.alexnet import CONFIGS, AlexNet
from zoo.lenet import DIGIT_BITMAPS, ConnectionTableConv, EuclideanRBF, Squash, Subsampling, rbf_map_loss, squash

# Table I of LeCun et al. 1998 as printed: row = S2 map, column = C3 map, X = connected.
PAPER_TABLE_I = (
    "X   XXX  XXXX XX",
    "XX   XXX  XXXX X",
    "XXX   XXX  X XXX",
    " XXX  XXXX  X XX",
    "  XXX  XXXX XX X",
    "   XXX  XXXX XXX",
)


# ----------------------------------------------------------------------------- LeNet-5
def test_lenet5_parameter_counts_match_the_paper():
    model = create_model("lenet5")
    expected = {"c1": 156, "s2": 12, "c3": 1516, "s4": 32, "c5": 48120, "f6": 10164}
    assert {name: count_parameters(model.get_submodule(name)) for name in expected} == expected
    assert count_parameters(model) - count_parameters(model.output) == 60_000
    assert count_parameters(model.output) == 84 * 10 + 10


def test_c3_connectivity_is_table_i():
    """d(C3 map j)/d(S2 map i) is non-zero exactly where Table I has an X."""
    torch.manual_seed(0)
    c3 = create_model("lenet5").c3
    for j in range(16):
        x = torch.randn(1, 6, 14, 14, requires_grad=True)
        c3(x)[:, j].sum().backward()
        reads = x.grad.abs().sum(dim=(0, 2, 3)) > 0
        expected = torch.tensor([PAPER_TABLE_I[i][j] == "X" for i in range(6)])
        assert torch.equal(reads, expected), f"C3 map {j}"


def test_c3_matches_a_per_map_reference_convolution():
    torch.manual_seed(0)
    c3 = ConnectionTableConv(6, ((0, 2), (1,), (0, 1, 2)), kernel_size=3)
    nn.init.normal_(c3.weight)
    nn.init.normal_(c3.bias)
    x = torch.randn(2, 6, 7, 7)
    offsets = [0, 2, 3]
    expected = torch.stack(
        [
            nn.functional.conv2d(
                x[:, list(inputs)], c3.weight[off : off + len(inputs)].unsqueeze(0), c3.bias[j : j + 1]
            )[:, 0]
            for j, (inputs, off) in enumerate(zip(c3.table, offsets))
        ],
        dim=1,
    )
    torch.testing.assert_close(c3(x), expected)
    assert count_parameters(c3) == (2 + 1 + 3) * 9 + 3


def test_squashing_function_is_the_papers():
    # A = 1.7159 and S = 2/3 are chosen so that f(1) = 1 and f(-1) = -1 (Appendix A)
    torch.testing.assert_close(
        squash(torch.tensor([-1.0, 0.0, 1.0])), torch.tensor([-1.0, 0.0, 1.0]), atol=2e-4, rtol=0
    )
    torch.testing.assert_close(squash(torch.tensor(10.0)), torch.tensor(1.7159), atol=1e-4, rtol=0)


def test_subsampling_is_scaled_window_sum_plus_bias_then_squashed():
    s = Subsampling(2)
    with torch.no_grad():
        s.weight.copy_(torch.tensor([0.5, -1.0]))
        s.bias.copy_(torch.tensor([0.1, 0.2]))
    x = torch.arange(2 * 4 * 4, dtype=torch.float32).view(1, 2, 4, 4) / 10
    window_sums = x.unfold(2, 2, 2).unfold(3, 2, 2).sum(dim=(-1, -2))
    coef, bias = torch.tensor([0.5, -1.0]).view(1, 2, 1, 1), torch.tensor([0.1, 0.2]).view(1, 2, 1, 1)
    expected = squash(window_sums * coef + bias)
    torch.testing.assert_close(s(x), expected)


def test_lenet5_layer_shapes():
    model = create_model("lenet5").eval()
    x = torch.randn(2, 1, 32, 32)
    c1 = model.c1(x)
    s2 = model.s2(c1)
    c3 = model.c3(s2)
    s4 = model.s4(c3)
    c5 = model.c5(s4)
    assert [t.shape[1:] for t in (c1, s2, c3, s4, c5)] == [
        (6, 28, 28),
        (6, 14, 14),
        (16, 10, 10),
        (16, 5, 5),
        (120, 1, 1),
    ]
    assert model.forward_head(model.forward_features(x), pre_logits=True).shape == (2, 84)


def test_lenet5_refuses_inputs_other_than_32x32():
    model = create_model("lenet5")
    with pytest.raises(ValueError, match="exactly 32x32.*got 36x36"):
        model(torch.randn(1, 1, 36, 36))
    assert model_info("lenet5").min_input_size == model_info("lenet5").input_size == (1, 32, 32)


def test_lenet5_init_is_uniform_over_2_4_by_fan_in():
    torch.manual_seed(0)
    model = create_model("lenet5")
    for layer, fan_in in ((model.c1, 25), (model.c5, 400), (model.f6, 120), (model.output, 84)):
        bound = 2.4 / fan_in
        for p in (layer.weight, layer.bias):
            assert p.abs().max() <= bound
        assert layer.weight.abs().max() > 0.9 * bound  # spans the range (PyTorch's default would be wider)
        assert abs(layer.weight.std().item() - bound / 3**0.5) < 0.1 * bound
    kernels = iter(model.c3.weight)  # one 5x5 kernel per Table I connection, grouped by C3 map
    for j, inputs in enumerate(model.c3.table):
        bound = 2.4 / (25 * len(inputs))
        observed = torch.stack([next(kernels) for _ in inputs]).abs().max().item()
        assert 0.8 * bound < observed <= bound, f"C3 map {j}"
        assert abs(model.c3.bias[j].item()) <= bound
    model.reset_classifier(5)
    assert model.output.weight.abs().max() <= 2.4 / 84


def test_lenet5_modern_shares_the_builder_with_relu_max_pool_and_full_c3():
    classic, modern = create_model("lenet5"), create_model("lenet5_modern")
    assert type(classic) is type(modern)
    assert isinstance(classic.act, Squash) and isinstance(modern.act, nn.ReLU)
    assert isinstance(modern.s2, nn.MaxPool2d) and isinstance(modern.c3, nn.Conv2d)
    assert count_parameters(modern.c3) == 6 * 16 * 25 + 16
    assert count_parameters(modern) == 61_706
    with torch.no_grad():
        assert modern.eval()(torch.randn(3, 1, 32, 32)).shape == (3, 10)


def test_rbf_output_is_the_papers_euclidean_units_with_fixed_bitmaps():
    model = create_model("lenet5", output="rbf")
    assert count_parameters(model) == 60_000  # the paper's trainable total: the 840 prototype values are fixed
    prototypes = model.state_dict()["output.prototypes"]
    assert prototypes.shape == (10, 7 * 12) and set(prototypes.unique().tolist()) == {-1.0, 1.0}
    assert all(len(bitmap) == 12 and all(len(row) == 7 for row in bitmap) for bitmap in DIGIT_BITMAPS)
    assert len(set(map(tuple, prototypes.tolist()))) == 10
    torch.manual_seed(0)
    x = torch.randn(3, 1, 32, 32)
    f6 = model.forward_head(model.forward_features(x), pre_logits=True)
    expected = -torch.stack([((f6 - w) ** 2).sum(1) for w in prototypes], dim=1)  # -y_i = -sum_j (x_j - w_ij)^2
    torch.testing.assert_close(model(x), expected)
    on_prototypes = model.output(prototypes)
    assert torch.equal(on_prototypes.argmax(1), torch.arange(10)) and not on_prototypes.diagonal().any()


def test_rbf_map_loss_is_equation_9():
    torch.manual_seed(0)
    scores, target = -torch.rand(4, 10) * 50, torch.tensor([0, 3, 9, 3])
    y = -scores
    by_hand = (y[torch.arange(4), target] + torch.log(torch.exp(torch.tensor(-2.0)) + torch.exp(-y).sum(1))).mean()
    torch.testing.assert_close(rbf_map_loss(scores, target, j=2.0), by_hand)
    # a rubbish class far away leaves cross-entropy on the negative distances
    torch.testing.assert_close(rbf_map_loss(scores, target, j=1e4), F.cross_entropy(scores, target))


@pytest.mark.parametrize("loss", [rbf_map_loss, F.cross_entropy])
def test_rbf_lenet5_trains_with_the_papers_loss_or_cross_entropy(loss):
    torch.manual_seed(0)
    model = create_model("lenet5", output="rbf")
    target = torch.arange(20) % 10
    x = torch.randn(10, 1, 32, 32)[target] + 0.1 * torch.randn(20, 1, 32, 32)  # one noisy pattern per class
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    losses = []
    for _ in range(10):
        optimizer.zero_grad()
        value = loss(model(x), target)
        value.backward()
        assert all(p.grad is not None and p.grad.any() for p in model.parameters())
        optimizer.step()
        losses.append(value.item())
    assert losses[-1] < losses[0]
    assert torch.equal(model.output.prototypes, create_model("lenet5", output="rbf").output.prototypes)  # fixed


def test_rbf_output_serves_the_ten_digits_only():
    model = create_model("lenet5", output="rbf")
    model.reset_classifier(0)
    assert model(torch.randn(2, 1, 32, 32)).shape == (2, 84)
    model.reset_classifier(10)
    assert isinstance(model.get_classifier(), EuclideanRBF) and model.get_classifier().out_features == 10
    with pytest.raises(ValueError, match="prototypes for the 10 digits only.*num_classes=5.*output='linear'"):
        model.reset_classifier(5)
    with pytest.raises(ValueError, match="num_classes=3"):
        create_model("lenet5", num_classes=3, output="rbf")
    with pytest.raises(ValueError, match="output must be one of .*'linear', 'rbf'.*got 'softmax'"):
        create_model("lenet5", output="softmax")


# ----------------------------------------------------------------------------- AlexNet
@pytest.fixture(scope="module")
def alexnet() -> AlexNet:
    torch.manual_seed(0)
    return create_model("alexnet").eval()


def test_alexnet_parameter_count_and_column_split(alexnet):
    assert count_parameters(alexnet) == 60_965_224
    groups = [m.groups for m in alexnet.features if isinstance(m, nn.Conv2d)]
    assert groups == [1, 2, 1, 2, 2]
    single = create_model("alexnet_single")
    assert [m.groups for m in single.features if isinstance(m, nn.Conv2d)] == [1] * 5
    assert [m.out_channels for m in single.features if isinstance(m, nn.Conv2d)] == [96, 256, 384, 384, 256]


def test_alexnet_shapes_at_227(alexnet):
    x = torch.randn(1, 3, 227, 227)
    with torch.no_grad():
        assert alexnet.features.conv1(x).shape == (1, 96, 55, 55)
        feats = alexnet.forward_features(x)
        assert feats.shape == (1, 256, 6, 6)
        assert alexnet.forward_head(feats, pre_logits=True).shape == (1, 4096)


def test_lrn_equals_the_papers_formula(alexnet):
    """b_i = a_i / (k + alpha * sum_{j=max(0,i-n/2)}^{min(N-1,i+n/2)} a_j^2)^beta, k=2, n=5, alpha=1e-4, beta=.75."""
    torch.manual_seed(0)
    a = torch.randn(2, 7, 3, 3, dtype=torch.float64) * 60  # large enough that alpha * sum a^2 matters
    n_maps = a.shape[1]
    expected = torch.empty_like(a)
    for i in range(n_maps):
        window = a[:, max(0, i - 2) : min(n_maps - 1, i + 2) + 1]
        expected[:, i] = a[:, i] / (2 + 1e-4 * (window**2).sum(dim=1)) ** 0.75
    for norm in (alexnet.features.norm1, alexnet.features.norm2):
        torch.testing.assert_close(norm(a), expected)
    # PyTorch's own alpha convention (alpha / n) would be a different normalisation
    assert not torch.allclose(nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)(a), expected, rtol=1e-3)


def test_alexnet_layer_order_lrn_after_relu_then_overlapping_pool(alexnet):
    names = [n for n, _ in alexnet.features.named_children()]
    assert names == [
        "conv1",
        "relu1",
        "norm1",
        "pool1",
        "conv2",
        "relu2",
        "norm2",
        "pool2",
        "conv3",
        "relu3",
        "conv4",
        "relu4",
        "conv5",
        "relu5",
        "pool5",
    ]
    pools = [m for m in alexnet.features if isinstance(m, nn.MaxPool2d)]
    assert all((p.kernel_size, p.stride) == (3, 2) for p in pools)
    fc_types = [type(m) for m in alexnet.fc]
    assert fc_types == [nn.Linear, nn.ReLU, nn.Dropout] * 2
    assert all(m.p == 0.5 for m in alexnet.fc if isinstance(m, nn.Dropout))


def test_alexnet_init_is_the_papers(alexnet):
    convs = [m for m in alexnet.features if isinstance(m, nn.Conv2d)]
    layers = convs + [alexnet.fc.fc6, alexnet.fc.fc7, alexnet.fc8]
    biases = [float(layer.bias.unique().item()) for layer in layers]
    assert biases == [0.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0]
    for layer in layers:
        w = layer.weight
        assert abs(w.mean().item()) < 1e-3
        assert abs(w.std().item() - 0.01) < 0.03 * 0.01 + 2 / w.numel() ** 0.5 * 0.01
    alexnet.reset_classifier(10)
    assert torch.all(alexnet.fc8.bias == 0) and abs(alexnet.fc8.weight.std().item() - 0.01) < 1e-3


@pytest.mark.parametrize("name", list(CONFIGS))
def test_alexnet_min_input_size_is_the_true_minimum(name):
    model = create_model(name, num_classes=3).eval()
    _, h, w = model_info(name).min_input_size
    with torch.no_grad():
        assert model(torch.randn(1, 3, h, w)).shape == (1, 3)
        with pytest.raises(RuntimeError):
            model.forward_features(torch.randn(1, 3, h - 1, w - 1))
    assert h == {"alexnet": 67, "alexnet_single": 67, "alexnet_cifar": 15}[name]


def test_alexnet_cifar_variant():
    info = model_info("alexnet_cifar")
    assert info.input_size == (3, 32, 32) and info.num_classes == 10 and info.tags == ("cifar",)
    model = create_model("alexnet_cifar").eval()
    assert (model.features.conv1.kernel_size, model.features.conv1.stride) == ((5, 5), (1, 1))
    assert model.num_features == 256 and model.head_hidden_size == 1024
    with torch.no_grad():
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    model.train()
    x = torch.randn(2, 3, 32, 32)
    assert not torch.equal(model(x), model(x)), "dropout is active in training mode"
