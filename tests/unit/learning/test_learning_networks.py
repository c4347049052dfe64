import pytest
import torch

from bioims.learning.hyperparameters import resolve_config
from bioims.learning.networks import Bbbc021Net, NetworkError, ResNetEmbedding, create_network


def _unit_rows(out: torch.Tensor) -> bool:
    return torch.allclose(out.norm(dim=1), torch.ones(out.shape[0]), atol=1e-5)


def test_bbbc021_is_the_original_architecture():
    net = create_network(resolve_config({}), 3, 128)
    assert isinstance(net, Bbbc021Net)
    assert sum(p.numel() for p in net.parameters()) == 13_368_384
    x = torch.rand(2, 3, 128, 128)
    sides = []
    for layer in net.features:
        x = layer(x)
        if isinstance(layer, torch.nn.Conv2d):
            sides.append((x.shape[1], x.shape[2]))
    assert sides == [(32, 63), (64, 31), (128, 15), (256, 7), (512, 3), (2048, 1)]
    drops = [m.p for m in net.modules() if isinstance(m, (torch.nn.Dropout, torch.nn.Dropout2d))]
    assert drops == pytest.approx([0.05, 0.05, 0.05, 0.10, 0.2])
    out = net.eval()(torch.rand(4, 3, 128, 128))
    assert out.shape == (4, 256) and _unit_rows(out)


def test_bbbc021_takes_channels_and_size_from_the_data():
    net = create_network(resolve_config({"embedding_dim": 16}), 4, 40).eval()
    out = net(torch.rand(3, 4, 40, 40))  # resized to 128 inside
    assert out.shape == (3, 16) and _unit_rows(out)
    with pytest.raises(NetworkError, match="input_size >= 127"):
        create_network(resolve_config({"input_size": 64}), 3, 64)
    with pytest.raises(NetworkError, match=r"expects \(N, 4, 40, 40\)"):
        net(torch.rand(1, 3, 40, 40))


def test_bbbc021_dropout_rule():
    net = create_network(resolve_config({"dropout": 0.1}), 3, 128)
    drops = [m.p for m in net.modules() if isinstance(m, (torch.nn.Dropout, torch.nn.Dropout2d))]
    assert drops == pytest.approx([0.025, 0.025, 0.025, 0.05, 0.1])
    net = create_network(resolve_config({"dropout": 0}), 3, 128)
    assert not [m for m in net.modules() if isinstance(m, torch.nn.Dropout2d)]


def test_resnet_accepts_any_size_and_is_batch_independent():
    config = resolve_config({"network": "bioims-resnet", "width": 8, "embedding_dim": 32})
    for size in (16, 37):
        net = create_network(config, 2, size).eval()
        x = torch.rand(5, 2, size, size)
        out = net(x)
        assert isinstance(net, ResNetEmbedding) and out.shape == (5, 32) and _unit_rows(out)
        # GroupNorm: one ROI's embedding does not depend on the others in the batch
        assert torch.allclose(net(x[:1]), out[:1], atol=1e-6)
    with pytest.raises(NetworkError, match="at least 16"):
        create_network(config, 2, 12)
    with pytest.raises(NetworkError, match="input_size does not apply"):
        create_network(resolve_config({"network": "bioims-resnet", "input_size": 64}), 2, 32)
