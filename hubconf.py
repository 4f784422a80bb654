"""torch.hub entry points: one per registered zoo model, taking ``create_model``'s arguments.

model = torch.hub.load("<this repository's directory>", "resnet50", source="local", num_classes=10)
model = torch.hub.load("<directory>", "resnet50", source="local", pretrained="tv2_in1k")  # True: the default weights
"""

import zoo as _zoo

dependencies = ["torch", "torchvision"]


def _entry_point(name: str):
    def entry_point(pretrained: bool | str = False, **kwargs):
        return _zoo.create_model(name, pretrained=pretrained, **kwargs)

    entry_point.__name__ = entry_point.__qualname__ = name
    entry_point.__doc__ = f"zoo.create_model({name!r}, pretrained=..., **kwargs). {_zoo.model_info(name).paper}."
    return entry_point


globals().update({name: _entry_point(name) for name in _zoo.list_models()})
