"""Named, versioned, hash-checked weights (zoo.catalog, zoo.pretrained, zoo.publish_weights) and the preprocessing
they carry (zoo.resolve_data_config, zoo.create_transform). Nothing here downloads: torch.hub's cache is a
temporary folder and every download attempt is refused as offline."""

import json
import re

import pytest
import torch
from catalog_sources import torchvision_entries
from PIL import Image

import zoo
import zoo.catalog
import zoo.publish_weights
from zoo import WeightsError, create_model, create_transform, list_pretrained, resolve_data_config
from zoo.catalog import WEIGHTS_DIR, catalogue
from zoo.pretrained import sha256, weights_file

SHIPPED = [name for name, record in catalogue().items() if record.shipped]


def test_list_pretrained_names_arch_dot_tag_and_both_torchvision_versions():
    names = list_pretrained()
    assert names == sorted(names) and "lenet5.digits" in names
    for arch in ("resnet50", "resnet101", "resnet152"):
        assert list_pretrained(f"{arch}.*") == [f"{arch}.tv2_in1k", f"{arch}.tv_in1k"]
    assert {"inception_v4.tf_in1k", "inception_resnet_v2.tf_in1k", "inception_v3.tv_in1k"} <= set(names)
    v1, v2 = catalogue()["resnet50.tv_in1k"], catalogue()["resnet50.tv2_in1k"]
    assert (v1.accuracy.top1, v2.accuracy.top1) == (76.13, 80.858) and v2.default and not v1.default
    assert v2.preprocessing.resize_size == 232 and v1.preprocessing.resize_size == 256


def test_torchvision_records_are_torchvisions_own_metadata():
    ours = json.loads((WEIGHTS_DIR / "torchvision.json").read_text())
    assert ours == torchvision_entries()


def test_every_record_is_complete():
    for name, record in catalogue().items():
        assert record.architecture in zoo.list_models(), name
        assert record.num_classes == len(record.class_names) > 1 and record.recipe and record.accuracy, name
        assert record.shipped or record.url.startswith("https://"), name
        assert record.shipped == (record.commit is not None), name  # the zoo's own files name their commit


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_weights_load_offline_and_match_their_hash(name, offline_hub):
    record = catalogue()[name]
    path = weights_file(record)
    assert path.parent == WEIGHTS_DIR and sha256(path) == record.sha256
    model = create_model(record.architecture, pretrained=record.tag)
    assert model.weights == record and model.num_classes == record.num_classes
    assert offline_hub[1] == []


def _digits_test_split():
    """The held-out digits split evaluate.py measures (the training layer defines it)."""
    from sklearn.datasets import load_digits

    from zootrain.data.datasets import DIGITS_TEST_FRACTION, DIGITS_TEST_SEED
    from zootrain.data.splits import stratified_split

    bunch = load_digits()
    images = torch.from_numpy(bunch.images).mul(255 / 16).round().to(torch.uint8).unsqueeze(1)
    labels = torch.as_tensor(bunch.target)
    _, held = stratified_split(labels, DIGITS_TEST_FRACTION, DIGITS_TEST_SEED)
    held = held.sort().values
    return images[held], labels[held]


def test_lenet5_digits_reproduces_its_recorded_accuracy():
    model = create_model("lenet5", pretrained="digits").eval()
    transform = create_transform(resolve_data_config(model))
    images, labels = _digits_test_split()
    with torch.no_grad():
        predicted = model(torch.stack([transform(image) for image in images])).argmax(1)
    top1 = 100 * (predicted == labels).float().mean().item()
    assert len(labels) == 269 and top1 == pytest.approx(model.weights.accuracy.top1, abs=100 / len(labels))
    assert model.weights.class_names == tuple("0123456789")


def test_a_model_without_weights_or_an_unknown_tag_is_one_error_listing_what_exists():
    with pytest.raises(WeightsError, match=r"pretrained=True: plain56 has no published weights; .*lenet5.*resnet20"):
        create_model("plain56", pretrained=True)
    with pytest.raises(WeightsError, match=re.escape("its tags: tv_in1k, tv2_in1k")):
        create_model("resnet50", pretrained="in22k")
    with pytest.raises(TypeError, match="pretrained=1"):
        create_model("resnet50", pretrained=1)


@pytest.mark.parametrize("name", ["inception_v4.tf_in1k", "resnet50.tv2_in1k"])
def test_downloaded_weights_offline_name_the_file_to_place(name, offline_hub):
    cache, attempts = offline_hub
    record = catalogue()[name]
    with pytest.raises(WeightsError, match=re.escape(f"place that file at {cache / record.file}")):
        create_model(record.architecture, pretrained=record.tag)
    assert attempts == [record.url]


def test_publish_writes_a_safetensors_file_and_its_record(tmp_path):
    source = create_model("lenet5", num_classes=3)
    checkpoint = tmp_path / "last.ckpt"
    torch.save(
        {
            "state_dict": {f"net.{k}": v for k, v in source.state_dict().items()},
            "hyper_parameters": {
                "model": {"name": "lenet5", "num_classes": 3, "in_chans": 1},
                "class_names": list("abc"),
            },
            "datamodule_hyper_parameters": {"name": "letters", "image_size": 32, "mean": [0.5], "std": [0.25]},
        },
        checkpoint,
    )
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"split": "test", "num_samples": 30, "top1": 0.9, "top5": 1.0}))
    args = [str(checkpoint), "--tag", "letters", "--metrics", str(metrics), "--recipe", "python train.py ..."]
    assert zoo.publish_weights.main([*args, "--commit", "abc123", "--out-dir", str(tmp_path / "w")]) == 0
    entry = json.loads((tmp_path / "w" / "zoo.json").read_text())[0]
    assert entry["file"] == "lenet5.letters.safetensors" and entry["class_names"] == list("abc")
    assert entry["accuracy"] == {"top1": 90.0, "split": "test split, 30 images", "top5": 100.0}
    assert entry["sha256"] == sha256(tmp_path / "w" / entry["file"]) and entry["commit"] == "abc123"
    assert entry["preprocessing"]["mean"] == [0.5] and entry["preprocessing"]["resize_size"] == 32


def test_publish_refuses_weights_of_another_architecture(tmp_path, capsys):
    checkpoint = tmp_path / "resnet.pth"
    torch.save(create_model("resnet20").state_dict(), checkpoint)
    with pytest.raises(SystemExit):
        zoo.publish_weights.main([str(checkpoint), "--tag", "x", "--recipe", "r", "--architecture", "resnet20"])
    assert "does not name its dataset: pass --dataset" in capsys.readouterr().err
    args = [str(checkpoint), "--tag", "x", "--recipe", "r", "--architecture", "lenet5", "--dataset", "cifar10"]
    with pytest.raises(SystemExit):
        zoo.publish_weights.main([*args, "--out-dir", str(tmp_path / "w")])
    err = capsys.readouterr().err
    assert "error:" in err and "do not fit lenet5" in err and not (tmp_path / "w").exists()


# ----- preprocessing -----
def test_data_config_follows_the_weights_then_the_model_info():
    v2 = resolve_data_config("resnet50.tv2_in1k")
    assert (v2.resize_size, v2.input_size, v2.interpolation) == (232, (3, 224, 224), "bilinear")
    assert len(v2.class_names) == 1000
    plain = resolve_data_config("resnet50")
    assert plain.resize_size == 256 and plain.class_names is None
    cifar = resolve_data_config(create_model("resnet20", in_chans=1))
    assert cifar.input_size == (1, 32, 32) and len(cifar.mean) == 1 and cifar.small_images
    grey = resolve_data_config(create_model("lenet5", pretrained="digits"))
    assert grey.mean == (0.1307,) and grey.class_names == tuple("0123456789")
    with pytest.raises(TypeError, match="source=Linear"):
        resolve_data_config(torch.nn.Linear(2, 2))


@pytest.mark.parametrize("name,size", [("resnet50.tv2_in1k", 224), ("inception_v4.tf_in1k", 299), ("resnet20", 32)])
def test_transforms_give_the_model_its_input_size(name, size):
    config = resolve_data_config(name)
    image = Image.new("RGB", (size + 77, size + 20), (200, 100, 50))
    for training in (False, True):
        x = create_transform(config, training=training)(image)
        assert x.shape == (3, size, size) and x.dtype == torch.float32
    expected = (torch.tensor([200, 100, 50]) / 255 - torch.tensor(config.mean)) / torch.tensor(config.std)
    torch.testing.assert_close(create_transform(config)(image)[:, 0, 0], expected, atol=1e-2, rtol=0)


def test_cifar_training_transform_is_the_papers_pad_and_crop():
    steps = [type(t).__name__ for t in create_transform(resolve_data_config("resnet20"), training=True).transforms]
    assert steps[:4] == ["ToImage", "Resize", "RandomCrop", "RandomHorizontalFlip"]
    crop = create_transform(resolve_data_config("resnet20"), training=True).transforms[2]
    assert crop.padding == [4, 4, 4, 4]
    large = [type(t).__name__ for t in create_transform(resolve_data_config("resnet50"), training=True).transforms]
    assert large[:3] == ["ToImage", "RandomResizedCrop", "RandomHorizontalFlip"]


def test_the_training_layer_prepares_images_with_the_library_users_transform():
    """Evaluation of in-memory data and of image files, one image and a batch: zootrain's numbers are
    zoo.create_transform's for the same data config, and a PIL image gives its tensor's numbers."""
    from zootrain.data.augment import data_config, preprocess

    mean, std = (0.49, 0.48, 0.45), (0.25, 0.24, 0.26)
    batch = torch.randint(0, 256, (4, 3, 40, 40), dtype=torch.uint8)
    for centre_crop in (False, True):
        config = data_config(32, mean, std, centre_crop)
        assert config.resize_size == (37 if centre_crop else 32)
        expected = torch.stack([create_transform(config)(image) for image in batch])
        torch.testing.assert_close(preprocess(32, mean, std, centre_crop)(batch), expected)
    image = Image.fromarray(batch[0].permute(1, 2, 0).numpy())
    config = resolve_data_config("resnet20")
    torch.testing.assert_close(create_transform(config)(image), create_transform(config)(batch[0]))
